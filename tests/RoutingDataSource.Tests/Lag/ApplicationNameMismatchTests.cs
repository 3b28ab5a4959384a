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

public sealed class ApplicationNameMismatchLogTests
{
    [Fact]
    public async Task Mismatch_warning_is_taken_back_once_the_standby_reports_its_name()
    {
        var options = new LocalPgClusterOptions { Standbys = 1 };
        options.StandbyApplicationNames["n1"] = "not_n1";
        await using var cluster = await LocalPgCluster.StartAsync(options);
        var logs = new CapturedLogs();
        await using var ds = await TestDataSources.CreateAsync(cluster, b => b.UseLoggerFactory(logs));
        await WaitForAsync(() => logs.Count(1009) == 1);

        // As a repointed standby does: its primary_conninfo now names it.
        var standby = cluster.Node("n1");
        await using var direct = await OpenAsync(standby);
        var conninfo = (string)(await TestDataSources.ScalarAsync(direct, "SHOW primary_conninfo"))!;
        var fixedInfo = System.Text.RegularExpressions.Regex.Replace(conninfo, @"application_name=\S+", "application_name=n1");
        Assert.NotEqual(conninfo, fixedInfo);
        await standby.ExecuteAsync($"ALTER SYSTEM SET primary_conninfo = '{fixedInfo.Replace("'", "''", StringComparison.Ordinal)}'");
        await standby.ExecuteAsync("SELECT pg_reload_conf()");

        await WaitForAsync(() => logs.Count(1016) == 1);
        Assert.Equal(1, logs.Count(1009));
        Assert.Contains(logs.Entries, e => e.EventId == 1016 && e.Message.Contains("n1", StringComparison.Ordinal));
    }

    private static async Task<Npgsql.NpgsqlConnection> OpenAsync(LocalPgNode node)
    {
        var c = new Npgsql.NpgsqlConnection(node.ConnectionString);
        await c.OpenAsync();
        return c;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
            await Task.Delay(50, cts.Token);
    }
}
