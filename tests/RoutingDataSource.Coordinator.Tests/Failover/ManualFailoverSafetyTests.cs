using System.Net;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

/// <summary>A manual failover of a primary that does not answer takes the automatic path's verdict and candidate checks.</summary>
public sealed class ManualFailoverSafetyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Manual_failover_is_refused_while_the_primary_is_only_suspect_or_standbys_still_stream_from_it()
    {
        var (c, proxy) = await CoordinatedCluster.StartWithPrimaryBehindProxyAsync(output);
        await using var _ = c;
        await using var __ = proxy;

        proxy.Blackhole();
        await c.WaitForViewAsync(v => v.Decision?.Contains("failed 1 consecutive", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(10), "suspect");
        var (code, body) = await c.PostJsonAsync("failover", """{"candidate":"n1"}""");
        output.WriteLine($"{code} {body}");
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Contains("not confirmed dead", body, StringComparison.Ordinal);

        await c.WaitForViewAsync(v => v.Decision?.StartsWith("failover vetoed", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(10), "vetoed");
        (code, body) = await c.PostJsonAsync("failover", """{"candidate":"n1"}""");
        output.WriteLine($"{code} {body}");
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Contains("still stream", body, StringComparison.Ordinal);

        // The primary is alive: nothing was promoted.
        Assert.False(await c.Cluster.Primary.IsInRecoveryAsync());
        foreach (var s in c.Cluster.Standbys)
            Assert.True(await s.IsInRecoveryAsync(), $"{s.Name} was promoted");
        Assert.False(c.Logging.Contains("Promoting"));
    }

    [Fact]
    public async Task With_no_known_primary_a_manual_failover_needs_force_and_then_cuts_the_standbys_off_before_promoting()
    {
        // The coordinator (re)started during an outage: it has never seen a primary.
        await using var c = await CoordinatedCluster.StartAsync(output, startCoordinator: false);
        await c.Cluster.Primary.StopAsync(immediate: true);
        await c.StartCoordinatorAsync(v => v.Rounds > 0 && v.Find("n1")!.State == MemberState.Up && v.Find("n2")!.State == MemberState.Up);
        Assert.Null(c.View.Primary);

        var (code, body) = await c.PostJsonAsync("failover", """{"candidate":"n1"}""");
        output.WriteLine($"{code} {body}");
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Contains("force", body, StringComparison.Ordinal);
        Assert.True(await c.Cluster.Node("n1").IsInRecoveryAsync());

        (code, body) = await c.PostJsonAsync("failover", """{"candidate":"n1","force":true}""");
        output.WriteLine($"{code} {body}");
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.False(await c.Cluster.Node("n1").IsInRecoveryAsync());
        await CoordinatedCluster.WaitForStreamingAsync(c.Cluster.Node("n1"), c.Cluster.Node("n2"), TimeSpan.FromSeconds(20));

        var lines = c.Logging.Lines.ToList();
        var cutOff = lines.FindIndex(l => l.Contains("Standbys cut off from", StringComparison.Ordinal));
        var promoting = lines.FindIndex(l => l.Contains("Promoting n1", StringComparison.Ordinal));
        Assert.True(cutOff >= 0 && promoting > cutOff, "n2 was not cut off before n1 was promoted");
        Assert.Contains("n2 stopped at", lines[cutOff], StringComparison.Ordinal);
    }
}
