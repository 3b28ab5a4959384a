using System.Diagnostics;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

public sealed class PriorityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Priority_0_standby_is_never_promoted_but_follows_the_new_primary()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, configure: (o, _) => o.Backends[1].Priority = 0);
        // n1 sorts first by name and is as advanced as n2: only its priority keeps it from being chosen.
        var clock = Stopwatch.StartNew();
        await c.Cluster.Primary.StopAsync(immediate: true);
        var (promoted, _) = await c.WaitForWritableAsync(clock, c.Cluster.Primary, TimeSpan.FromSeconds(20), id: 1);
        Assert.Equal("n2", promoted.Name);
        Assert.True(await c.Cluster.Node("n1").IsInRecoveryAsync());
        await CoordinatedCluster.WaitForStreamingAsync(promoted, c.Cluster.Node("n1"), TimeSpan.FromSeconds(15));
        Assert.Contains(c.Logging.Lines, l => l.Contains("n1: priority 0", StringComparison.Ordinal));
    }
}
