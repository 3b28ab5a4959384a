using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>The read balancers as pure policies: which usable candidate serves a read, and in what shares.</summary>
public sealed class BalancerTests : IAsyncDisposable
{
    private readonly PolicyFixtures _f = new(0, 1, 3);

    private ClusterSnapshot ThreeNodes(ulong replay1 = 100, ulong replay2 = 100, long? lag1 = 0, long? lag2 = 0)
        => PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary),
            _f.Node(1, BackendRole.Standby, replay1, lag1), _f.Node(2, BackendRole.Standby, replay2, lag2));

    private static Dictionary<string, int> Shares(IReadBalancer balancer, ClusterSnapshot snapshot, int picks, ulong minimumLsn = 0)
    {
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < picks; i++)
        {
            var name = balancer.Pick(snapshot, minimumLsn)?.Backend.Name ?? "none";
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }
        return counts;
    }

    [Fact]
    public void Weighted_round_robin_gives_each_standby_exactly_its_weights_share()
    {
        var shares = Shares(new WeightedRoundRobinBalancer(), ThreeNodes(), picks: 4000);
        Assert.Equal(1000, shares["n1"]);
        Assert.Equal(3000, shares["n2"]);
        Assert.False(shares.ContainsKey("n0")); // not a read candidate
    }

    [Fact]
    public void Weighted_round_robin_spreads_every_window_of_one_cycle_by_the_weights()
    {
        var balancer = new WeightedRoundRobinBalancer();
        var snapshot = ThreeNodes();
        for (var cycle = 0; cycle < 50; cycle++)
        {
            var window = Shares(balancer, snapshot, picks: 4);
            Assert.Equal(1, window["n1"]);
            Assert.Equal(3, window["n2"]);
        }
    }

    [Fact]
    public void A_candidate_of_weight_zero_never_serves_a_read()
    {
        var primaryWithNoWeight = _f.Node(0, BackendRole.Primary);
        var snapshot = PolicyFixtures.Snapshot(primaryWithNoWeight, primaryWithNoWeight, _f.Node(1, BackendRole.Standby));
        Assert.Equal(new Dictionary<string, int> { ["n1"] = 100 }, Shares(new WeightedRoundRobinBalancer(), snapshot, 100));
    }

    [Theory]
    [InlineData(150UL, 90UL, 150UL, "n2")] // n1 has not replayed the write: n2 only
    [InlineData(150UL, 150UL, 90UL, "n1")]
    [InlineData(150UL, 90UL, 90UL, "none")] // nobody has: no standby (the caller goes to the primary)
    public void Weighted_round_robin_skips_standbys_behind_the_required_position(ulong minimumLsn, ulong replay1, ulong replay2, string only)
    {
        var shares = Shares(new WeightedRoundRobinBalancer(), ThreeNodes(replay1, replay2), picks: 40, minimumLsn);
        Assert.Equal(new Dictionary<string, int> { [only] = 40 }, shares);
    }

    [Fact]
    public async Task The_primary_as_a_read_candidate_always_has_the_required_position()
    {
        await using var weighted = new PolicyFixtures(2, 1);
        var primary = weighted.Node(0, BackendRole.Primary, replayLsn: 10);
        var snapshot = PolicyFixtures.Snapshot(primary, primary);
        Assert.Same(primary, new WeightedRoundRobinBalancer().Pick(snapshot, minimumLsn: 1_000_000));
        Assert.Same(primary, new LeastLagBalancer().Pick(snapshot, minimumLsn: 1_000_000));
    }

    [Fact]
    public void A_backend_that_failed_after_the_round_started_gets_no_reads_until_a_later_round()
    {
        var snapshot = ThreeNodes();
        _f.Backends[2].MarkSuspect(PolicyFixtures.RoundStarted + 1);
        Assert.Equal(new Dictionary<string, int> { ["n1"] = 20 }, Shares(new WeightedRoundRobinBalancer(), snapshot, 20));
        Assert.Equal("n1", new LeastLagBalancer().Pick(snapshot, 0)!.Backend.Name);

        _f.Backends[2].MarkSuspect(PolicyFixtures.RoundStarted - 1); // the failure predates the round: the round's verdict stands
        Assert.Equal(15, Shares(new WeightedRoundRobinBalancer(), snapshot, 20)["n2"]);
    }

    [Fact]
    public void A_single_usable_candidate_takes_no_ticket_so_the_shares_of_later_reads_are_unchanged()
    {
        var balancer = new WeightedRoundRobinBalancer();
        var both = ThreeNodes(replay1: 100, replay2: 200);
        Assert.Equal(new Dictionary<string, int> { ["n2"] = 7 }, Shares(balancer, both, picks: 7, minimumLsn: 150));
        var shares = Shares(balancer, both, picks: 4);
        Assert.Equal(1, shares["n1"]);
        Assert.Equal(3, shares["n2"]);
    }

    [Theory]
    [InlineData(500L, 20L, "n2")]
    [InlineData(20L, 500L, "n1")]
    [InlineData(null, 500L, "n2")] // unknown lag counts as the worst
    [InlineData(7L, 7L, "n1")] // a tie: the first candidate
    public void Least_lag_picks_the_usable_candidate_with_the_smallest_lag(long? lag1, long? lag2, string expected)
    {
        Assert.Equal(expected, new LeastLagBalancer().Pick(ThreeNodes(lag1: lag1, lag2: lag2), 0)!.Backend.Name);
    }

    [Fact]
    public void Least_lag_never_picks_a_standby_behind_the_required_position_even_if_it_lags_least()
    {
        var snapshot = ThreeNodes(replay1: 90, replay2: 200, lag1: 0, lag2: 5000);
        Assert.Equal("n2", new LeastLagBalancer().Pick(snapshot, 150)!.Backend.Name);
        Assert.Null(new LeastLagBalancer().Pick(snapshot, 300));
    }

    public ValueTask DisposeAsync() => _f.DisposeAsync();
}
