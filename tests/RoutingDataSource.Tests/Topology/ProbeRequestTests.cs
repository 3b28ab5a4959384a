using System.Net;
using System.Net.Sockets;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Topology;

/// <summary>How requested probe rounds are counted: a request is met by the first round that starts after it.</summary>
[Collection("cluster")]
public sealed class ProbeRequestTests(ClusterFixture fixture)
{
    [Fact]
    public async Task RefreshStatusAsync_during_a_round_waits_for_one_more_round_and_causes_no_other()
    {
        // A server that accepts connections and never answers: every round waits the whole probe timeout for it.
        using var hung = new TcpListener(IPAddress.Loopback, 0);
        hung.Start();
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        b.AddBackend("hung", $"Host=127.0.0.1;Port={((IPEndPoint)hung.LocalEndpoint).Port};Username=postgres;Database=postgres", 1);
        b.Options.HealthCheckInterval = TimeSpan.FromSeconds(60);
        b.Options.HealthCheckTimeout = TimeSpan.FromMilliseconds(300);
        await using var ds = b.Build();

        for (var i = 0; i < 3; i++)
        {
            // A round is running (the first one, then the one a request started) when the refresh asks for another.
            ds.Monitor.RequestProbe();
            await Task.Delay(50);
            var before = ds.Monitor.Current.Version;
            var status = await ds.RefreshStatusAsync();
            Assert.Equal(BackendState.Down, status["hung"]!.State);
            var rounds = ds.Monitor.Current.Version;
            Assert.Equal(before + 2, rounds); // the running one, then the one that started after the call

            // No third: tests and applications rely on no probe seeing what they do after a refresh (a 60 s interval).
            await Task.Delay(800);
            Assert.Equal(rounds, ds.Monitor.Current.Version);
        }
    }

    [Fact]
    public async Task RefreshStatusAsync_probes_a_backend_in_backoff_even_when_a_round_was_already_requested()
    {
        // A port nothing listens on: its probes fail at once, and requested rounds leave it out while it backs off.
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        b.AddBackend("dead", $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres", 1);
        b.Options.HealthCheckInterval = TimeSpan.FromSeconds(60);
        await using var ds = b.Build();
        for (var i = 0; i < 4; i++)
            await ds.RefreshStatusAsync(); // each probes it: 4 failures, a backoff of 800 ms

        for (var i = 0; i < 3; i++)
        {
            var failures = ds.Monitor.Current.Nodes[3].ConsecutiveFailures;
            // A routed statement's error asks for a round; the loop takes it and waits out the gap between requested
            // rounds (100 ms), during which the application refreshes.
            ds.Monitor.RequestProbe();
            await Task.Delay(30);
            await ds.RefreshStatusAsync();
            Assert.Equal(failures + 1, ds.Monitor.Current.Nodes[3].ConsecutiveFailures);
        }
    }
}
