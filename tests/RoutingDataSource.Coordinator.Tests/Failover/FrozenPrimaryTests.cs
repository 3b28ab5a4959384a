using System.Diagnostics;
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

        await old.ThawAsync();
        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.State == "fenced", TimeSpan.FromSeconds(10), "thawed old primary fenced");
        Assert.Equal(promoted.Name, view.Primary);
        Assert.Equal(1, view.Find(old.Name)!.Timeline);
        Assert.Equal("primary", view.Find(old.Name)!.Role);
    }
}
