using System.Globalization;
using RoutingDataSource.Testing;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Faults;

/// <summary>
/// Npgsql answers a cancelled or timed-out query with a cancel request: a new connection to the server, then a
/// blocking read until the server closes it. A frozen server never does, so each such request holds a thread-pool
/// thread for as long as the freeze lasts; health checks every 200 ms starve the process (the coordinator, when it
/// runs in the same process, included). Health checks must give up on a hung server without asking Npgsql to cancel.
/// </summary>
[Collection("faults")]
public sealed class FrozenServerProbeTests(FaultClusterFixture fixture)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Health_checks_of_a_frozen_server_send_it_no_cancel_requests()
    {
        await using var ds = await CreateAsync(Cluster, b =>
        {
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(100);
            b.Options.HealthCheckTimeout = TimeSpan.FromMilliseconds(300);
        });
        var n1 = Cluster.Node("n1");
        var before = ConnectionsTo(n1.Port);
        await n1.FreezeAsync();
        int during;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3)); // some 10 health checks of n1 time out meanwhile
            during = ConnectionsTo(n1.Port);
            Assert.False(ds.GetStatus()["n1"]!.ServesReads);
        }
        finally
        {
            await n1.ThawAsync();
        }
        // Each cancel request is one more connection that the frozen server never closes: about one per health check
        // (some 10 here). Without them only the probe pool's connections are there: at most 2, one of them from before
        // the freeze, and now and then an attempt to connect that the probe gave up on and Npgsql has not closed yet
        // (seen: 3, of which 2 vanished unaccepted at the thaw).
        Assert.True(during <= before + 2, $"{during} connections to the frozen server (before the freeze: {before}): health checks sent cancel requests");
    }

    /// <summary>Established TCP connections to 127.0.0.1:<paramref name="port"/> from this machine (IPv4).</summary>
    private static int ConnectionsTo(int port)
    {
        var remote = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        return File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f.Length > 3 && f[2].EndsWith(remote, StringComparison.Ordinal) && f[3] == "01");
    }
}
