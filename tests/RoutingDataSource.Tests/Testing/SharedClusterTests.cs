using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

[Collection(SharedClusterCollection.Name)]
public sealed class SharedClusterTests(SharedClusterFixture fixture, ITestOutputHelper output)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    [Fact]
    public Task Nodes_are_a_primary_and_two_standbys_on_distinct_loopback_ports() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        Assert.Equal(["n0", "n1", "n2"], Cluster.Nodes.Select(n => n.Name));
        Assert.Same(Cluster.Nodes[0], Cluster.Primary);
        Assert.Equal(["n1", "n2"], Cluster.Standbys.Select(n => n.Name));
        Assert.Same(Cluster.Nodes[2], Cluster.Node("n2"));
        Assert.Equal(3, Cluster.Nodes.Select(n => n.Port).Distinct().Count());
        Assert.All(Cluster.Nodes, n => Assert.Equal("127.0.0.1", n.Host));
        Assert.All(Cluster.Nodes, n => Assert.True(n.IsRunning));
        Assert.All(Cluster.Nodes, n => Assert.StartsWith(Cluster.Directory, n.DataDirectory, StringComparison.Ordinal));

        Assert.False(await Cluster.Primary.IsInRecoveryAsync(ct));
        foreach (var standby in Cluster.Standbys)
        {
            Assert.True(await standby.IsInRecoveryAsync(ct));
        }
    });

    [Fact]
    public Task Standbys_stream_through_slots_and_under_application_names_named_after_them() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        await using var connection = new NpgsqlConnection(Cluster.Primary.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            """
            SELECT r.application_name, s.slot_name
            FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
            WHERE r.state = 'streaming' ORDER BY 1
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var rows = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            rows.Add($"{reader.GetString(0)}/{reader.GetString(1)}");
        }

        Assert.Equal(["n1/n1", "n2/n2"], rows);
    });

    [Fact]
    public Task Servers_run_with_the_fast_test_settings() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        foreach (var node in Cluster.Nodes)
        {
            Assert.Equal("on", await node.ScalarAsync<string>("SHOW hot_standby_feedback", ct));
            Assert.Equal("on", await node.ScalarAsync<string>("SHOW wal_log_hints", ct));
            Assert.Equal("off", await node.ScalarAsync<string>("SHOW fsync", ct));
            Assert.Equal("1s", await node.ScalarAsync<string>("SHOW wal_receiver_status_interval", ct));
            Assert.Equal("127.0.0.1", await node.ScalarAsync<string>("SHOW listen_addresses", ct));
            Assert.Equal(Cluster.Directory, await node.ScalarAsync<string>("SHOW unix_socket_directories", ct));
        }
    });

    [Fact]
    public Task Write_on_primary_is_visible_on_both_standbys() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        var marker = Guid.NewGuid().ToString("N");
        await Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS harness_visibility (marker text)", ct);
        await Cluster.Primary.ExecuteAsync($"INSERT INTO harness_visibility VALUES ('{marker}')", ct);

        await Cluster.WaitForReplicationAsync(cancellationToken: ct);

        foreach (var standby in Cluster.Standbys)
        {
            Assert.Equal(1L, await standby.ScalarAsync<long>($"SELECT count(*) FROM harness_visibility WHERE marker = '{marker}'", ct));
        }
    });

    [Fact]
    public Task Multi_host_connection_string_reaches_primary_or_standby_as_asked() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        foreach (var (attributes, inRecovery) in new[] { ("primary", false), ("standby", true) })
        {
            var connectionString = new NpgsqlConnectionStringBuilder(Cluster.MultiHostConnectionString)
            {
                TargetSessionAttributes = attributes,
                Pooling = false,
            }.ConnectionString;
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
            Assert.Equal(inRecovery, (bool)(await command.ExecuteScalarAsync(ct))!);
        }
    });

    [Fact]
    public Task Paused_replay_produces_measurable_lag_that_returns_to_zero_after_resume() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        var primary = Cluster.Primary;
        var standby = Cluster.Node("n1");
        const string lagOfN1 = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication WHERE application_name = 'n1'";
        await primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS harness_lag (x int)", ct);
        await Cluster.WaitForReplicationAsync(cancellationToken: ct);

        await standby.PauseReplayAsync(ct);
        try
        {
            await primary.ExecuteAsync("INSERT INTO harness_lag SELECT generate_series(1, 1000)", ct);
            var written = await primary.GetWalPositionAsync(ct);
            // Received but not replayed: the lag is replay lag, not network lag.
            await ClusterTest.EventuallyAsync(
                async () => await standby.ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_last_wal_receive_lsn()", ct) >= written,
                "n1 received the insert", ct);

            Assert.True(await standby.GetWalPositionAsync(ct) < written);
            Assert.True(await primary.ScalarAsync<long>(lagOfN1, ct) > 0);
        }
        finally
        {
            await standby.ResumeReplayAsync(CancellationToken.None);
        }

        await ClusterTest.EventuallyAsync(async () => await primary.ScalarAsync<long>(lagOfN1, ct) == 0, "the primary sees n1's replay lag back at 0", ct);
    });

    [Fact]
    public Task Frozen_standby_times_out_queries_and_answers_again_after_thaw() => ClusterTest.RunAsync(output, Cluster, async ct =>
    {
        var standby = Cluster.Node("n2");
        var quick = standby.ConnectionStringWith(b =>
        {
            b.Pooling = false;
            b.Timeout = 1;
            b.CommandTimeout = 1;
            b.CancellationTimeout = -1; // the cancel request would hang on the frozen server too
        });
        await using var established = new NpgsqlConnection(quick);
        await established.OpenAsync(ct);

        await standby.FreezeAsync(ct);
        try
        {
            Assert.True(standby.IsFrozen);
            var pid = standby.ProcessId!.Value;
            Assert.All(Posix.Descendants(pid).Prepend(pid), p => Assert.Equal('T', Posix.State(p)));

            var clock = Stopwatch.StartNew();
            await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
            {
                await using var command = new NpgsqlCommand("SELECT 1", established);
                await command.ExecuteScalarAsync(ct);
            });
            await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
            {
                await using var fresh = new NpgsqlConnection(quick);
                await fresh.OpenAsync(ct);
            });
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));
        }
        finally
        {
            await standby.ThawAsync(CancellationToken.None);
        }

        Assert.False(standby.IsFrozen);
        await using var afterThaw = new NpgsqlConnection(quick);
        await afterThaw.OpenAsync(ct);
        await using var probe = new NpgsqlCommand("SELECT 1", afterThaw);
        Assert.Equal(1, await probe.ExecuteScalarAsync(ct));
    });
}
