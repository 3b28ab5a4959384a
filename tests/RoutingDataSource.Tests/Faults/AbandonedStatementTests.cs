using RoutingDataSource.Connections;
using RoutingDataSource.Testing;
using RoutingDataSource.Topology;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Faults;

/// <summary>
/// A statement stuck on a hung (frozen) server is abandoned when the monitor takes the server out of service. What it
/// was running on must never be used again by anyone: not the physical connection, and not the Npgsql command object
/// that is still executing on it. While it waits it sits in its backend's registry of waiting operations (no
/// cancellation token, no registration of its own), from which the monitor abandons it.
/// </summary>
[Collection("faults")]
public sealed class AbandonedStatementTests(FaultClusterFixture fixture)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    private static long _nextId = 5000;

    // Reads go to n1 only (n2 has weight 0); with n1 out of service they fall back to the primary.
    private async Task<PgRoutingDataSource> DataSourceAsync()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", Cluster.Primary.ConnectionString, 0);
        b.AddBackend("n1", Cluster.Node("n1").ConnectionString, 1);
        b.AddBackend("n2", Cluster.Node("n2").ConnectionString, 0);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        b.Options.HealthCheckTimeout = TimeSpan.FromMilliseconds(500);
        b.Options.HealthCheckMaxRetries = 1;
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(10);
        var ds = b.Build();
        await WarmUpAsync(ds);
        return ds;
    }

    private static async Task<(int Port, string Backend)> ReadWithAsync(RoutingCommand cmd)
    {
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt32(0), reader.BackendName);
    }

    [Fact]
    public async Task A_read_abandoned_on_a_frozen_standby_is_rerun_elsewhere_with_a_fresh_command()
    {
        await using var ds = await DataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT inet_server_port() WHERE $1 > 0";
        cmd.Parameters.AddWithValue(1);
        var n1 = Cluster.Node("n1");
        Assert.Equal((n1.Port, "n1"), await ReadWithAsync(cmd)); // leaves an idle pooled connection to n1

        await n1.FreezeAsync();
        try
        {
            // Sent to n1, which never answers: abandoned when the monitor takes n1 down, then re-run on the primary.
            Assert.Equal((Cluster.Primary.Port, "n0"), await ReadWithAsync(cmd));
            Assert.Equal((Cluster.Primary.Port, "n0"), await ReadWithAsync(cmd));
            Assert.Equal(Cluster.Primary.Port, Convert.ToInt32(await cmd.ExecuteScalarAsync()));
        }
        finally
        {
            await n1.ThawAsync();
        }

        // The abandoned statement finishes on its own connection now; the command object, re-used all along, is unaffected.
        await WaitUntilAsync(async () => (await ds.RefreshStatusAsync())["n1"]!.ServesReads);
        for (var i = 0; i < 20; i++)
            Assert.Equal((n1.Port, "n1"), await ReadWithAsync(cmd));
        Assert.True(ds.Backend("n1").RetryCount > 0, "the read on frozen n1 was re-run (and counted against n1)");
    }

    private static InFlightStatements InFlightOn(PgRoutingDataSource ds, string backend)
        => ds.Backends.Single(b => b.Name == backend).InFlight;

    [Fact]
    public async Task A_read_waiting_on_a_frozen_standby_is_abandoned_from_the_registry_when_the_monitor_takes_it_down()
    {
        await using var ds = await DataSourceAsync();
        var n1 = InFlightOn(ds, "n1");
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(Cluster.Node("n1").Port, await ServerPortAsync(conn));

        await Cluster.Node("n1").FreezeAsync();
        try
        {
            var read = ServerPortAsync(conn);
            await WaitUntilAsync(() => Task.FromResult(n1.Waiting == 1 || read.IsCompleted));
            Assert.False(read.IsCompleted, "the read on the frozen standby did not wait");
            Assert.Equal(1, n1.Waiting);

            Assert.Equal(Cluster.Primary.Port, await read.WaitAsync(TimeSpan.FromSeconds(15)));
            Assert.Equal(0, n1.Waiting);
        }
        finally
        {
            await Cluster.Node("n1").ThawAsync();
        }
        await WaitUntilAsync(async () => (await ds.RefreshStatusAsync())["n1"]!.ServesReads);
        Assert.Equal(Cluster.Node("n1").Port, await ServerPortAsync(conn));
    }

    [Fact]
    public async Task A_write_waiting_on_a_frozen_primary_may_have_committed_and_its_connection_is_never_reused()
    {
        await using var ds = await DataSourceAsync();
        var n0 = InFlightOn(ds, "n0");
        var id = Interlocked.Increment(ref _nextId);
        await using var conn = await ds.OpenConnectionAsync();
        // The session the write will run on: the connection's primary session, kept from this statement on.
        await NonQueryAsync(conn, $"INSERT INTO acks VALUES ({id}, 'before the freeze')");
        var session = Convert.ToInt32(await ScalarAsync(conn, "/* route: primary */ SELECT pg_backend_pid()"));

        RoutingException e;
        await Cluster.Primary.FreezeAsync();
        try
        {
            var write = NonQueryAsync(conn, $"UPDATE acks SET note = 'abandoned' WHERE id = {id}");
            await WaitUntilAsync(() => Task.FromResult(n0.Waiting == 1 || write.IsCompleted));
            Assert.Equal(1, n0.Waiting);
            e = await Assert.ThrowsAsync<RoutingException>(() => write.WaitAsync(TimeSpan.FromSeconds(15)));
            Assert.Equal(0, n0.Waiting);
        }
        finally
        {
            await Cluster.Primary.ThawAsync();
        }
        Assert.Equal(RoutingFailure.ConnectionLost, e.Failure);
        Assert.True(e.MayHaveCommitted);
        Assert.Equal("n0", e.BackendName);

        // Abandoned, not cancelled: the update runs once the server wakes, and then its session is closed, not pooled.
        await WaitUntilAsync(async () => await Cluster.Primary.ScalarAsync<string>($"SELECT note FROM acks WHERE id = {id}") == "abandoned");
        await WaitUntilAsync(async () => await Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE pid = {session}") == 0);
        await WaitUntilAsync(async () => (await ds.RefreshStatusAsync())["n0"]!.State == BackendState.Up);
        for (var i = 0; i < 20; i++)
        {
            await using var other = await ds.OpenConnectionAsync();
            Assert.NotEqual(session, Convert.ToInt32(await ScalarAsync(i % 2 == 0 ? conn : other, "/* route: primary */ SELECT pg_backend_pid()")));
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition())
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException("condition not met in 10 s");
    }
}
