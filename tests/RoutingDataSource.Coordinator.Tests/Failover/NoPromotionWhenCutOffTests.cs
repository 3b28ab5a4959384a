using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

public sealed class NoPromotionWhenCutOffTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Coordinator_cut_off_from_a_healthy_primary_does_not_promote_while_standbys_stream()
    {
        var (c, proxy) = await CoordinatedCluster.StartWithPrimaryBehindProxyAsync(output);
        await using var _ = c;
        await using var __ = proxy;

        proxy.Blackhole();
        // Well past detection: 3 probes timing out at 1 s each, then more rounds at the retry interval.
        await c.WaitForViewAsync(v => v.Decision?.StartsWith("failover vetoed", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(10), "vetoed");
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.False(await c.Cluster.Primary.IsInRecoveryAsync());
        foreach (var s in c.Cluster.Standbys)
            Assert.True(await s.IsInRecoveryAsync(), $"{s.Name} was promoted");
        Assert.Null(c.View.LastFailover);
        Assert.Contains(c.Logging.Lines, l => l.Contains("Failover vetoed", StringComparison.Ordinal) && l.Contains("n1", StringComparison.Ordinal) && l.Contains("still stream", StringComparison.Ordinal));
        Assert.False(c.Logging.Contains("Promoting"));

        proxy.Heal();
        await c.WaitForViewAsync(v => v.Primary == "n0" && v.Find("n0")!.State == MemberState.Up && v.Find("n0")!.Reason is null, TimeSpan.FromSeconds(10), "n0 back");
        Assert.True(c.Logging.Contains("Primary recovered"));
    }
}
