using System.Diagnostics;
using Npgsql;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

[Collection(SharedClusterCollection.Name)]
public sealed class FaultProxyTests(SharedClusterFixture fixture, ITestOutputHelper output)
{
    private LocalPgNode Node => fixture.Cluster.Primary;

    [Fact]
    public Task Proxy_forwards_sessions_to_its_node() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        Assert.Equal(Node.Port, proxy.TargetPort);

        await using var connection = new NpgsqlConnection(Node.ConnectionStringVia(proxy));
        await connection.OpenAsync(ct);

        Assert.Equal(Node.Port, await ScalarAsync<int>(connection, "SELECT current_setting('port')::int", ct));
        Assert.Equal(1, proxy.ActiveConnections);
        Assert.Equal(1, proxy.AcceptedConnections);
    });

    [Fact]
    public Task Blackholed_proxy_makes_a_new_connection_time_out() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        proxy.Blackhole();

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 1, ct));

        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        // Accepted, then nothing: a hung server, not a refused one. (Npgsql may try a second time, without encryption.)
        Assert.InRange(proxy.AcceptedConnections, 1, 2);
    });

    [Fact]
    public Task Blackholed_proxy_makes_a_query_on_an_open_session_time_out_and_heal_restores_service() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        await using var established = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 1, ct);

        proxy.Blackhole();
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(established, "SELECT 1", ct));

        proxy.Heal();
        await using var fresh = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);
        Assert.Equal(1, await ScalarAsync<int>(fresh, "SELECT 1", ct));
    });

    [Fact]
    public Task Rejecting_proxy_makes_connecting_fail_fast_and_cuts_open_sessions() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        await using var established = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);

        proxy.Reject();
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 10, ct));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"connecting took {clock.Elapsed}");
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(established, "SELECT 1", ct));

        proxy.Heal();
        await using var fresh = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);
        Assert.Equal(1, await ScalarAsync<int>(fresh, "SELECT 1", ct));
    });

    [Fact]
    public Task Delayed_proxy_adds_latency_to_every_round_trip() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        await using var connection = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);

        proxy.Delay(TimeSpan.FromMilliseconds(150));
        var clock = Stopwatch.StartNew();
        Assert.Equal(1, await ScalarAsync<int>(connection, "SELECT 1", ct));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(290), $"round trip took {clock.Elapsed}"); // one chunk each way

        proxy.Heal();
        clock.Restart();
        Assert.Equal(1, await ScalarAsync<int>(connection, "SELECT 1", ct));
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(290), $"round trip took {clock.Elapsed}"); // less than the two delays, with room for a busy machine
    });

    [Fact]
    public Task Severing_breaks_open_sessions_but_new_ones_connect() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        await using var proxy = FaultProxy.For(Node);
        await using var established = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);

        proxy.SeverAll();
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(established, "SELECT 1", ct));

        await using var fresh = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);
        Assert.Equal(1, await ScalarAsync<int>(fresh, "SELECT 1", ct));
    });

    [Fact]
    public Task Disposed_proxy_closes_its_sessions_and_its_port() => ClusterTest.RunAsync(output, fixture.Cluster, async ct =>
    {
        var proxy = FaultProxy.For(Node);
        await using var established = await OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct);

        await proxy.DisposeAsync();

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => ScalarAsync<int>(established, "SELECT 1", ct));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(Node.ConnectionStringVia(proxy), timeoutSeconds: 5, ct));
    });

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString, int timeoutSeconds, CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            Timeout = timeoutSeconds,
            CommandTimeout = timeoutSeconds,
            CancellationTimeout = -1, // a cancel request through a blackhole would hang as well
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(ct))!;
    }
}
