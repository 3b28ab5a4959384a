using System.Diagnostics;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>PreferredPrimary: after a failover, the preferred member rejoins by itself and the leader switches back to it.</summary>
public sealed class PreferredPrimaryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_preferred_primary_rejoins_after_a_failover_and_the_leader_fails_back_to_it_by_itself()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true }, agents: true,
            configure: (o, _) => o.PreferredPrimary = "n0");
        var preferred = c.Cluster.Primary;
        var clock = Stopwatch.StartNew();
        await preferred.StopAsync(immediate: true);
        var (promoted, failedOverAt) = await c.WaitForWritableAsync(clock, preferred, TimeSpan.FromSeconds(30), id: 1);

        var view = await c.WaitForViewAsync(v => v.Primary == preferred.Name && v.Find(promoted.Name)!.Agent?.StartsWith("demoted", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(90), $"failed back to {preferred.Name}");
        output.WriteLine($"failover to {promoted.Name} after {failedOverAt.TotalMilliseconds:0} ms; back on {preferred.Name} after {clock.Elapsed.TotalSeconds:0.0} s");

        Assert.True(c.Logging.Contains($"Failing back to the preferred primary {preferred.Name}"));
        Assert.False(await preferred.IsInRecoveryAsync());
        await CoordinatedCluster.WaitForStreamingAsync(preferred, promoted, TimeSpan.FromSeconds(30));
        Assert.Equal(1L, await preferred.ScalarAsync<long>("SELECT count(*) FROM t WHERE id = 1"));
        Assert.Equal(preferred.Name, view.Primary);
    }
}
