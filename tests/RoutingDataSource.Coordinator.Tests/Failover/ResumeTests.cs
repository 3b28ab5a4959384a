using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

/// <summary>A failover interrupted after <c>pg_promote</c> is finished by the next round, whoever started it.</summary>
public sealed class ResumeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_coordinator_started_after_a_promotion_repoints_the_standby_left_behind()
    {
        // A coordinator that crashed right after pg_promote: n1 is the primary, n2 still points at the dead n0.
        await using var c = await CoordinatedCluster.StartAsync(output, startCoordinator: false);
        await c.Cluster.Primary.StopAsync(immediate: true);
        await c.Cluster.Node("n1").PromoteAsync();
        await c.StartCoordinatorAsync(v => v.Primary == "n1");

        await CoordinatedCluster.WaitForStreamingAsync(c.Cluster.Node("n1"), c.Cluster.Node("n2"), TimeSpan.FromSeconds(30));
        Assert.True(c.Logging.Contains("Repointed n2 at n1"));
    }

    [Fact]
    public async Task A_promotion_that_outlives_its_timeout_is_finished_by_the_next_rounds()
    {
        // pg_promote is asked for, but the coordinator stops waiting before the standby has left recovery.
        await using var c = await CoordinatedCluster.StartAsync(output, configure: (o, _) => o.PromoteTimeout = TimeSpan.FromMilliseconds(1));
        await c.Cluster.Primary.StopAsync(immediate: true);
        var view = await c.WaitForViewAsync(v => v.Primary is "n1" or "n2", TimeSpan.FromSeconds(20), "a standby promoted");
        var promoted = c.Cluster.Node(view.Primary!);
        var other = c.Cluster.Standbys.Single(s => s != promoted);
        output.WriteLine($"promotion reported failed: {c.Logging.Contains("did not finish within")}");

        // The other standby was cut off from n0 before the promotion: it follows the new primary all the same.
        await CoordinatedCluster.WaitForStreamingAsync(promoted, other, TimeSpan.FromSeconds(30));
        Assert.True(await other.IsInRecoveryAsync());
    }

    [Fact]
    public async Task The_slot_of_a_follower_that_never_follows_is_dropped_and_made_again_when_it_returns()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, configure: (o, _) => o.UnusedSlotTimeout = TimeSpan.FromSeconds(3));
        var n2 = c.Cluster.Node("n2");
        await n2.StopAsync(immediate: true);
        await c.Cluster.Primary.StopAsync(immediate: true);
        var view = await c.WaitForViewAsync(v => v.Primary == "n1", TimeSpan.FromSeconds(20), "n1 promoted");
        var n1 = c.Cluster.Node("n1");
        await WaitAsync(async () => await n1.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{n2.SlotName}'") == 1, "n2's slot made on n1");

        // n2 stays away: its slot would hold WAL on n1 for ever.
        await WaitAsync(async () => await n1.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{n2.SlotName}'") == 0, "n2's slot dropped");
        Assert.True(c.Logging.Contains($"Dropped replication slot {n2.SlotName}"));

        await n2.StartAsync();
        await CoordinatedCluster.WaitForStreamingAsync(n1, n2, TimeSpan.FromSeconds(30));
        Assert.Equal(1L, await n1.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{n2.SlotName}'"));
        Assert.NotNull(view.LastFailover);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException($"Not within 30 s: {what}");
            await Task.Delay(100);
        }
    }
}
