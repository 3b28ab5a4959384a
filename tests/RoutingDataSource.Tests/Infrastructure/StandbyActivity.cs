using System.Diagnostics;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Infrastructure;

internal static class StandbyActivity
{
    /// <summary>Waits (at most 5 s) until a standby of <paramref name="cluster"/> runs a statement whose text contains <paramref name="text"/>.</summary>
    public static async Task WaitUntilRunningAsync(LocalPgCluster cluster, string text)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            foreach (var s in cluster.Standbys)
            {
                if (await s.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{text}%' AND pid <> pg_backend_pid()") > 0)
                    return;
            }
            await Task.Delay(20);
        }
    }
}
