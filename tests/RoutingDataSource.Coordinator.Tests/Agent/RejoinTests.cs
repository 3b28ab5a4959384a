using System.Diagnostics;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>Old primaries that come back as standbys of the new primary by themselves, through their agents.</summary>
public sealed class RejoinTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RejoinBound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_killed_old_primary_with_a_diverged_history_is_rewound_and_streams_from_the_new_primary()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, agents: true);
        var (old, promoted, failedOverAt, clock) = await DivergeAndKillPrimaryAsync(c);

        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.Agent?.StartsWith("rewound", StringComparison.Ordinal) == true
            || v.Find(old.Name)!.Agent?.Contains("failed", StringComparison.Ordinal) == true, RejoinBound, $"{old.Name} rejoined");
        await CoordinatedCluster.WaitForStreamingAsync(promoted, old, TimeSpan.FromSeconds(30));
        output.WriteLine($"failover after {failedOverAt.TotalMilliseconds:0} ms, {old.Name} streams from {promoted.Name} {(clock.Elapsed - failedOverAt).TotalMilliseconds:0} ms later: {view.Find(old.Name)!.Agent}");

        Assert.StartsWith($"rewound: streams from {promoted.Name}", view.Find(old.Name)!.Agent, StringComparison.Ordinal);
        await AssertFollowsAsync(old, promoted);
        Assert.Contains("pg_rewind can be used (wal_log_hints on", c.Agents!.OutputOf(old.Name), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_wal_log_hints_a_diverged_old_primary_is_rebuilt_and_its_old_directory_removed_once_it_streams()
    {
        var options = new LocalPgClusterOptions { Standbys = 2 };
        options.ExtraSettings.Add("wal_log_hints = off");
        await using var c = await CoordinatedCluster.StartAsync(output, options, agents: true);
        var (old, promoted, _, _) = await DivergeAndKillPrimaryAsync(c);

        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.Agent?.StartsWith("rebuilt", StringComparison.Ordinal) == true
            || v.Find(old.Name)!.Agent?.Contains("failed", StringComparison.Ordinal) == true, RejoinBound, $"{old.Name} rebuilt");
        var report = view.Find(old.Name)!.Agent!;
        output.WriteLine(report);

        Assert.StartsWith($"rebuilt: streams from {promoted.Name}", report, StringComparison.Ordinal);
        Assert.Contains("pg_rewind cannot be used: wal_log_hints is off and data checksums are off", report, StringComparison.Ordinal);
        await CoordinatedCluster.WaitForStreamingAsync(promoted, old, TimeSpan.FromSeconds(30));
        await AssertFollowsAsync(old, promoted);
        Assert.False(Directory.Exists(old.DataDirectory + ".old"));
        Assert.False(Directory.Exists(old.DataDirectory + ".new"));
        // Its own settings survived the copy of the primary's: it listens on its own port.
        Assert.Equal(old.Port, await old.ScalarAsync<int>("SELECT current_setting('port')::int"));
    }

    /// <summary>
    /// Stops both standbys' streaming, commits a row on the primary that no standby receives (its history diverges
    /// from theirs from here on), kills it, and waits until the coordinator has promoted a standby.
    /// </summary>
    private static async Task<(LocalPgNode Old, LocalPgNode Promoted, TimeSpan FailedOverAt, Stopwatch Clock)> DivergeAndKillPrimaryAsync(CoordinatedCluster c)
    {
        var old = c.Cluster.Primary;
        await old.ExecuteAsync("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
        await c.Cluster.WaitForReplicationAsync();
        foreach (var s in c.Cluster.Standbys)
        {
            await s.ExecuteAsync("ALTER SYSTEM SET primary_conninfo = ''");
            await s.ExecuteAsync("SELECT pg_reload_conf()");
        }
        var bound = Stopwatch.StartNew();
        while (await old.ScalarAsync<long>("SELECT count(*) FROM pg_stat_replication") > 0)
        {
            Assert.True(bound.Elapsed < TimeSpan.FromSeconds(10), "the standbys did not stop streaming");
            await Task.Delay(20);
        }
        await old.ExecuteAsync("INSERT INTO t VALUES (999999)");
        var clock = Stopwatch.StartNew();
        await old.StopAsync(immediate: true);
        var (promoted, at) = await c.WaitForWritableAsync(clock, old, TimeSpan.FromSeconds(30), id: 1000);
        return (old, promoted, at, clock);
    }

    /// <summary>The old primary is a standby on the new primary's timeline, without the row only it had, and replays what the new primary writes now.</summary>
    private static async Task AssertFollowsAsync(LocalPgNode old, LocalPgNode promoted)
    {
        Assert.True(await old.IsInRecoveryAsync());
        Assert.Equal(await promoted.GetTimelineAsync(), await old.GetTimelineAsync());
        await promoted.ExecuteAsync("INSERT INTO t VALUES (2000)");
        await old.WaitForReplayAsync(await promoted.GetWalPositionAsync(), TimeSpan.FromSeconds(30));
        Assert.Equal(1L, await old.ScalarAsync<long>("SELECT count(*) FROM t WHERE id = 2000"));
        Assert.Equal(0L, await old.ScalarAsync<long>("SELECT count(*) FROM t WHERE id = 999999"));
        Assert.Equal(100L, await old.ScalarAsync<long>("SELECT count(*) FROM t WHERE id <= 100"));
    }
}
