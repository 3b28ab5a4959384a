using System.Diagnostics;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

/// <summary>
/// <see cref="LocalPgNode.RejoinAsync"/>: an old primary comes back as a streaming standby of the new one, as the
/// servers themselves report it. Each test runs a series of failovers on a cluster of its own.
/// </summary>
public sealed class RejoinTests(ITestOutputHelper output)
{
    [Fact]
    public Task Old_primary_rejoins_by_rewind_after_a_crash_and_after_a_freeze_on_the_same_cluster() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousStandbyNames = "ANY 1 (n0, n1, n2)" }, async (cluster, ct) =>
        {
            var (n0, n1, n2) = (cluster.Primary, cluster.Node("n1"), cluster.Node("n2"));
            await n0.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, written_on text)", ct);
            await n0.ExecuteAsync("INSERT INTO t VALUES (1, 'n0')", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);

            // Refused before anything is touched: n1 is not a primary yet.
            await Assert.ThrowsAsync<InvalidOperationException>(() => n0.RejoinAsync(n1, ct));
            Assert.False(await n0.IsInRecoveryAsync(ct));

            // 1. Crash of the primary.
            await n0.StopAsync(immediate: true, ct);
            await n1.PromoteAsync(ct);
            await n2.FollowAsync(n1, ct);
            await n1.ExecuteAsync("INSERT INTO t VALUES (2, 'n1')", ct);

            await RejoinAsync(n0, n1, ct);

            Assert.Equal(RejoinMethod.Rewind, n0.LastRejoin?.Method);
            await AssertStreamsFromAsync(n0, n1, ct);
            await n1.ExecuteAsync("INSERT INTO t VALUES (3, 'n1')", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal("1 2 3", await IdsAsync(n0, ct));

            // 2. A frozen primary, promoted around, thawed: it runs on as a primary of the old timeline and writes
            //    WAL there that the new primary never saw. Its last checkpoint before the fork lies two WAL segments
            //    back, where pg_rewind has to read from: a clean stop's checkpoint would have recycled them.
            await n1.ExecuteAsync("CHECKPOINT", ct);
            for (var segment = 0; segment < 2; segment++)
            {
                await n1.ExecuteAsync("INSERT INTO t SELECT i, 'n1 switch' FROM generate_series(10 + 10 * " + segment + ", 19 + 10 * " + segment + ") i", ct);
                await n1.ExecuteAsync("SELECT pg_switch_wal()", ct);
            }

            await n1.ExecuteAsync("DELETE FROM t WHERE written_on = 'n1 switch'", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            await n1.FreezeAsync(ct);
            await n2.PromoteAsync(ct);
            await n0.FollowAsync(n2, ct);
            await n2.ExecuteAsync("INSERT INTO t VALUES (4, 'n2')", ct);
            await n1.ThawAsync(ct);
            Assert.False(await n1.IsInRecoveryAsync(ct));
            await n1.ExecuteAsync("SET synchronous_commit = local; INSERT INTO t SELECT i, 'n1 fenced' FROM generate_series(100, 1100) i", ct);
            var fencedTimeline = await n1.GetTimelineAsync(ct);

            await RejoinAsync(n1, n2, ct);

            Assert.Equal(RejoinMethod.Rewind, n1.LastRejoin?.Method);
            Assert.True(await n2.GetTimelineAsync(ct) > fencedTimeline);
            await AssertStreamsFromAsync(n1, n2, ct);
            await AssertStreamsFromAsync(n0, n2, ct);
            await n2.ExecuteAsync("INSERT INTO t VALUES (5, 'n2')", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal("1 2 3 4 5", await IdsAsync(n1, ct));
            Assert.Equal("1 2 3 4 5", await IdsAsync(n0, ct));
        }, seconds: 120);

    [Fact]
    public Task Old_primary_rejoins_by_base_backup_when_rewind_cannot_work() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 1 }, async (cluster, ct) =>
        {
            var (n0, n1) = (cluster.Primary, cluster.Node("n1"));
            await n0.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)", ct);
            await n0.ExecuteAsync("INSERT INTO t VALUES (1)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);

            // 1. The rewind itself works, but the rewound node must replay from the last common checkpoint, and
            //    the new primary has recycled that WAL since: it could never come up.
            await n0.StopAsync(immediate: true, ct);
            await n1.PromoteAsync(ct);
            for (var i = 2; i <= 4; i++)
            {
                await n1.ExecuteAsync($"INSERT INTO t VALUES ({i})", ct);
                await n1.ExecuteAsync("SELECT pg_switch_wal()", ct);
                await n1.ExecuteAsync("CHECKPOINT", ct);
            }

            await RejoinAsync(n0, n1, ct);

            Assert.Equal(RejoinMethod.BaseBackup, n0.LastRejoin?.Method);
            Assert.Contains("has already been removed", n0.LastRejoin?.RewindProblem, StringComparison.Ordinal);
            await AssertStreamsFromAsync(n0, n1, ct);
            await n1.ExecuteAsync("INSERT INTO t VALUES (5)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal("1 2 3 4 5", await IdsAsync(n0, ct));

            // 2. pg_rewind fails: the old primary's own WAL is gone.
            await n1.StopAsync(immediate: true, ct);
            await n0.PromoteAsync(ct);
            foreach (var segment in Directory.EnumerateFiles(Path.Combine(n1.DataDirectory, "pg_wal")).Where(f => Path.GetFileName(f).Length == 24))
            {
                File.Delete(segment);
            }

            await RejoinAsync(n1, n0, ct);

            Assert.Equal(RejoinMethod.BaseBackup, n1.LastRejoin?.Method);
            Assert.Contains("pg_rewind failed", n1.LastRejoin?.RewindProblem, StringComparison.Ordinal);
            await AssertStreamsFromAsync(n1, n0, ct);
            await n0.ExecuteAsync("INSERT INTO t VALUES (6)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal("1 2 3 4 5 6", await IdsAsync(n1, ct));
        }, seconds: 120);

    private async Task RejoinAsync(LocalPgNode oldPrimary, LocalPgNode newPrimary, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await oldPrimary.RejoinAsync(newPrimary, ct);
        output.WriteLine($"{oldPrimary.Name} rejoined {newPrimary.Name} by {oldPrimary.LastRejoin?.Method} in {clock.ElapsedMilliseconds} ms");
        if (oldPrimary.LastRejoin?.RewindProblem is { } problem)
        {
            output.WriteLine(problem);
        }
    }

    // What the servers report of a rejoined node: a standby on its own port and configuration, with no slots of
    // its own, streaming from the new primary under its own application name (so synchronous_standby_names and
    // lag lookups find it) through its own slot.
    private static async Task AssertStreamsFromAsync(LocalPgNode standby, LocalPgNode primary, CancellationToken ct)
    {
        Assert.True(await standby.IsInRecoveryAsync(ct));
        Assert.Equal(standby.Port, await standby.ScalarAsync<int>("SELECT current_setting('port')::int", ct));
        Assert.Equal(standby.Name, await standby.ScalarAsync<string>("SHOW cluster_name", ct));
        // The slots it served its standbys through as a primary are gone: they would hold WAL on it for ever.
        Assert.Equal(0L, await standby.ScalarAsync<long>("SELECT count(*) FROM pg_replication_slots", ct));
        Assert.Equal(
            "streaming",
            await primary.ScalarAsync<string>(
                $"SELECT r.state FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE r.application_name = '{standby.ApplicationName}' AND s.slot_name = '{standby.SlotName}'",
                ct));
        var synchronousNames = await primary.ScalarAsync<string>("SHOW synchronous_standby_names", ct);
        if (synchronousNames?.Contains(standby.ApplicationName, StringComparison.Ordinal) == true)
        {
            Assert.Equal("quorum", await primary.ScalarAsync<string>($"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby.ApplicationName}'", ct));
        }
    }

    private static async Task<string?> IdsAsync(LocalPgNode node, CancellationToken ct) =>
        await node.ScalarAsync<string>("SELECT string_agg(id::text, ' ' ORDER BY id) FROM t", ct);
}
