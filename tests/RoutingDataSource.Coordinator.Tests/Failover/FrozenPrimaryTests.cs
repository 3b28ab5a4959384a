using System.Diagnostics;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

public sealed class FrozenPrimaryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Frozen_primary_is_replaced_within_the_bound_plus_the_probe_timeout_and_fenced_when_it_thaws()
    {
        // A frozen server keeps its TCP connections open: the standbys only stop streaming from it after
        // wal_receiver_timeout, which the README recommends setting to a few seconds.
        var options = new LocalPgClusterOptions { Standbys = 2, ExtraSettings = { "wal_receiver_timeout = '2s'" } };
        await using var c = await CoordinatedCluster.StartAsync(output, options);
        var old = c.Cluster.Primary;
        await Task.Delay(Random.Shared.Next(0, 1000));
        var clock = Stopwatch.StartNew();
        await old.FreezeAsync();
        var (promoted, at) = await c.WaitForWritableAsync(clock, old, TimeSpan.FromSeconds(20), id: 1);
        output.WriteLine($"{promoted.Name} accepted a write {at.TotalMilliseconds:0} ms after the freeze");
        Assert.True(at < TimeSpan.FromSeconds(5) + c.Options.ProbeTimeout, $"{at.TotalMilliseconds:0} ms");
        await CoordinatedCluster.WaitForStreamingAsync(promoted, c.Cluster.Standbys.Single(s => s != promoted), TimeSpan.FromSeconds(15));

        // A hung primary can wake up between the verdict and the promotion and have more commits confirmed: the
        // standbys are cut off from it first, and the candidate is chosen from the positions they stopped at.
        var lines = c.Logging.Lines.ToList();
        var cutOff = lines.FindIndex(l => l.Contains($"Standbys cut off from the old primary {old.Name}", StringComparison.Ordinal));
        var chosen = lines.FindIndex(cutOff + 1, l => l.Contains("Candidate: ", StringComparison.Ordinal));
        var promoting = lines.FindIndex(l => l.Contains("Promoting ", StringComparison.Ordinal));
        Assert.True(cutOff >= 0 && chosen > cutOff && promoting > chosen, "the standbys were not cut off from the old primary before the candidate was chosen");
        foreach (var standby in c.Cluster.Standbys)
            Assert.Contains($"{standby.Name} stopped at", lines[cutOff], StringComparison.Ordinal);

        await old.ThawAsync();
        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.State == MemberState.Fenced, TimeSpan.FromSeconds(10), "thawed old primary fenced");
        Assert.Equal(promoted.Name, view.Primary);
        Assert.Equal(1, view.Find(old.Name)!.Timeline);
        Assert.Equal(MemberRole.Primary, view.Find(old.Name)!.Role);
    }
}
