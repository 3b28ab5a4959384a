using Npgsql;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

/// <summary>Tests that stop or promote nodes: each gets a cluster of its own.</summary>
public sealed class NodeLifecycleTests(ITestOutputHelper output)
{
    [Fact]
    public Task Immediate_stop_crashes_the_primary_and_restart_recovers_committed_data() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 1 }, async (cluster, ct) =>
        {
            var primary = cluster.Primary;
            await primary.ExecuteAsync("CREATE TABLE t (x int); INSERT INTO t VALUES (42)", ct);
            var pid = primary.ProcessId!.Value;

            await primary.StopAsync(immediate: true, ct);

            Assert.False(primary.IsRunning);
            Assert.Null(primary.ProcessId);
            Assert.False(Posix.IsAlive(pid));
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => primary.ScalarAsync<int>("SELECT 1", ct));

            await primary.StartAsync(ct);

            Assert.True(primary.IsRunning);
            Assert.Contains("automatic recovery in progress", primary.ReadLogTail(50), StringComparison.Ordinal);
            Assert.Equal(42, await primary.ScalarAsync<int>("SELECT x FROM t", ct));

            // The standby reconnects by itself and keeps replicating.
            await primary.ExecuteAsync("INSERT INTO t VALUES (43)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal(2L, await cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM t", ct));
        });

    [Fact]
    public Task Restarted_standby_streams_again_and_catches_up() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 1 }, async (cluster, ct) =>
        {
            var standby = cluster.Node("n1");
            await cluster.Primary.ExecuteAsync("CREATE TABLE t (x int)", ct);

            await standby.StopAsync(immediate: false, ct);
            Assert.False(standby.IsRunning);
            await cluster.Primary.ExecuteAsync("INSERT INTO t VALUES (1)", ct);
            await standby.RestartAsync(ct);

            Assert.True(standby.IsRunning);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            Assert.Equal(1L, await standby.ScalarAsync<long>("SELECT count(*) FROM t", ct));
        });

    [Fact]
    public Task Promoted_standby_is_writable_on_a_new_timeline_and_the_other_standby_follows_it() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 2 }, async (cluster, ct) =>
        {
            var (oldPrimary, n1, n2) = (cluster.Primary, cluster.Node("n1"), cluster.Node("n2"));
            await oldPrimary.ExecuteAsync("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            await oldPrimary.StopAsync(immediate: true, ct);
            Assert.Equal(1, await n1.GetTimelineAsync(ct));

            await n1.PromoteAsync(ct);

            Assert.False(await n1.IsInRecoveryAsync(ct));
            Assert.Equal(2, await n1.GetTimelineAsync(ct));
            // The control file learns the new timeline only at the next checkpoint.
            await n1.ExecuteAsync("CHECKPOINT", ct);
            Assert.Equal(2, await n1.ScalarAsync<int>("SELECT timeline_id FROM pg_control_checkpoint()", ct));
            await n1.ExecuteAsync("INSERT INTO t VALUES (2)", ct);

            await n2.FollowAsync(n1, ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);

            Assert.Equal(2L, await n2.ScalarAsync<long>("SELECT count(*) FROM t", ct));
            Assert.Equal(2, await n2.GetTimelineAsync(ct));
            Assert.Equal("n2", await n1.ScalarAsync<string>("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", ct));
        });
}
