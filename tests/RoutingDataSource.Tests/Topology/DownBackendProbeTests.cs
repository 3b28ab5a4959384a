using System.Net;
using System.Net.Sockets;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Topology;

/// <summary>How often a server that is down is probed, and what the status says about it.</summary>
[Collection("cluster")]
public sealed class DownBackendProbeTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Down_backend_is_probed_at_most_about_once_an_interval_however_often_a_probe_is_requested()
    {
        var port = UnusedPort();
        await using var ds = Build(port);
        await ds.RefreshStatusAsync();
        var before = ds.Monitor.Current.Nodes[3].ConsecutiveFailures;

        // Every failed statement asks for a re-probe: here, one every 10 ms for 3 s.
        var until = DateTime.UtcNow.AddSeconds(3);
        while (DateTime.UtcNow < until)
        {
            ds.Monitor.RequestProbe();
            await Task.Delay(10);
        }
        var probes = ds.Monitor.Current.Nodes[3].ConsecutiveFailures - before;

        // Backoff 100, 200, 400, 800 ms, then the 1 s interval: about 7 in 3 s (it was about 25).
        Assert.InRange(probes, 2, 9);
        var healthy = ds.Monitor.Current.Nodes[0];
        Assert.True(healthy.LastProbeOk);
    }

    [Fact]
    public async Task Status_shows_the_last_error_of_a_down_backend()
    {
        var port = UnusedPort();
        await using var ds = Build(port);
        var status = await ds.RefreshStatusAsync();
        var dead = status["dead"]!;
        Assert.Equal(BackendState.Down, dead.State);
        Assert.False(string.IsNullOrEmpty(dead.LastError));
        var line = status.ToString().Split('\n').Single(l => l.StartsWith("dead ", StringComparison.Ordinal));
        Assert.Contains(dead.LastError!, line, StringComparison.Ordinal);
    }

    private PgRoutingDataSource Build(int deadPort)
    {
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        b.AddBackend("dead", $"Host=127.0.0.1;Port={deadPort};Username=postgres;Database=postgres", 1);
        b.Options.HealthCheckInterval = TimeSpan.FromSeconds(1);
        return b.Build();
    }

    private static int UnusedPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

public sealed class ProbeBackoffTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(4, 800)]
    [InlineData(5, 1000)]
    [InlineData(1000, 1000)]
    public void Delay_doubles_from_100_ms_up_to_the_interval(int failures, int expectedMs)
        => Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RoutingDataSource.Topology.ProbeBackoff.Delay(failures, TimeSpan.FromSeconds(1)));
}
