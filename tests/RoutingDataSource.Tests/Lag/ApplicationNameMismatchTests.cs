using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Lag;

public sealed class ApplicationNameMismatchTests
{
    [Fact]
    public async Task Mismatched_application_name_still_yields_correct_lag()
    {
        var options = new LocalPgClusterOptions { Standbys = 1 };
        options.StandbyApplicationNames["n1"] = "not_n1";
        await using var cluster = await LocalPgCluster.StartAsync(options);
        await using var ds = await TestDataSources.CreateAsync(cluster);
        var standby = cluster.Node("n1");
        await standby.PauseReplayAsync();
        await cluster.Primary.ExecuteAsync("CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g");
        var lagged = await WaitAsync(ds, s => s["n1"]!.LagBytes > 0);
        Assert.True(lagged["n1"]!.LagBytes > 0);
        Assert.Null(lagged["n1"]!.SyncState); // no pg_stat_replication row carries its name
        await standby.ResumeReplayAsync();
        var caughtUp = await WaitAsync(ds, s => s["n1"]!.LagBytes == 0);
        Assert.Equal(TimeSpan.Zero, caughtUp["n1"]!.Lag);
        Assert.True(caughtUp["n1"]!.ServesReads);
    }

    private static async Task<ClusterStatus> WaitAsync(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var s = await ds.RefreshStatusAsync(cts.Token);
            if (condition(s))
                return s;
            await Task.Delay(50, cts.Token);
        }
    }
}
