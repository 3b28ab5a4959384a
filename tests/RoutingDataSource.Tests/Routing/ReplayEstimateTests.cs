using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RoutingDataSource.Connections;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// Read-your-writes between probes, the pure parts: each standby's replay-delay estimate (learnt from guarded reads and
/// probes), which standby a read of a recent write tries behind the guard, and what a passed guard proves.
/// </summary>
public sealed class ReplayEstimateTests : IAsyncDisposable
{
    private readonly PolicyFixtures _f = new(0, 1, 1);
    private readonly FakeTimeProvider _time = new();

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void A_miss_at_an_age_makes_the_estimate_at_least_twice_that_age_and_passes_lower_it_slowly()
    {
        var t = new ReplayTracker();
        Assert.Equal(ReplayTracker.Initial, t.Threshold);
        Assert.False(t.Expects(Ms(1)));
        Assert.True(t.Expects(Ms(2)));

        t.Miss(Ms(40)); // behind a 40 ms old write: its delay is over 40 ms
        Assert.Equal(Ms(80), t.Threshold);
        t.Miss(Ms(1)); // a younger miss still doubles it
        Assert.Equal(Ms(160), t.Threshold);
        Assert.Equal(2, t.Misses);

        for (var i = 0; i < 32; i++)
            t.Hit(1000, version: 1, age: Ms(500));
        Assert.Equal(32, t.Hits);
        Assert.InRange(t.Threshold, Ms(160 * 0.35), Ms(160 * 0.4)); // (31/32)^32 ~ 0.36: twenty passes per miss at a steady delay

        t.CaughtUp(); // a probe found it fully replayed
        Assert.Equal(ReplayTracker.Initial, t.Threshold);
    }

    [Theory]
    [InlineData(2, 6, 6)] // a guard that waited 5 ms missed a write 6 ms old at the end: the delay is over 6 ms, no more is known
    [InlineData(2, 1, 2)] // a miss younger than the estimate leaves it
    public void A_miss_after_a_guard_waited_raises_the_estimate_to_its_age_not_twice_it(double estimateMs, double missAgeMs, double expectedMs)
    {
        var t = new ReplayTracker();
        Assert.Equal(Ms(estimateMs), t.Threshold);
        t.Miss(Ms(missAgeMs), waited: true);
        Assert.Equal(Ms(expectedMs), t.Threshold);
        // Right after the next write, a 5 ms wait still reaches a 6 ms estimate with 1 ms of age: the guard is tried
        // (doubled to 12 ms, the primary would have served it).
        Assert.Equal(expectedMs <= 6, t.Expects(Ms(1) + Ms(5)));
        // A second miss in a row (the standby stopped replaying?) doubles: it soon gets no more attempts.
        t.Miss(Ms(missAgeMs), waited: true);
        Assert.Equal(Ms(Math.Max(2 * expectedMs, 2 * missAgeMs)), t.Threshold);
        // A pass ends the streak: the next waited miss again raises the estimate only to its age.
        t.Hit(1000, version: 1, age: Ms(0.5));
        var afterPass = t.Threshold;
        t.Miss(afterPass + Ms(1), waited: true);
        Assert.Equal(afterPass + Ms(1), t.Threshold);
    }

    [Fact]
    public void The_estimate_never_grows_past_its_ceiling()
    {
        var t = new ReplayTracker();
        for (var i = 0; i < 40; i++)
            t.Miss(TimeSpan.FromMinutes(5));
        Assert.Equal(ReplayTracker.Ceiling, t.Threshold);
    }

    [Fact]
    public void A_position_proven_by_a_guard_counts_only_until_the_next_probe()
    {
        var t = new ReplayTracker();
        t.Hit(5000, version: 7, age: Ms(10));
        t.Hit(4000, version: 7, age: Ms(10)); // never lowers what was proven
        Assert.Equal(5000UL, t.Known(7));
        Assert.Equal(0UL, t.Known(8)); // the next probe's own position stands (a rewound standby is believed no longer)
        t.Learn(6000, version: 8);
        Assert.Equal(6000UL, t.Known(8));
        t.Learn(9000, version: 7); // proven under an older snapshot than the one recorded: ignored
        Assert.Equal(6000UL, t.Known(8));
    }

    [Fact]
    public void A_guard_teaches_the_writes_age_when_the_read_was_sent_plus_the_wait_not_the_time_its_answer_took_to_be_read()
    {
        // The guard ran on the standby after the read was sent and gave up at most Wait later: a miss proves only that
        // the standby had not replayed a write that old. Time the answer then spent in the client's queue (a busy
        // client: 32 callers on 2 cores) proves nothing; taught, it inflated the estimate and sent reads to the primary.
        var written = _time.GetTimestamp();
        _time.Advance(Ms(1));
        var guard = ReadGuardTicket.Take(1000, written, exploring: false, wait: Ms(5), _time);
        _time.Advance(Ms(30));
        Assert.Equal(Ms(6), guard.Taught);

        var tracker = new ReplayTracker();
        tracker.Miss(guard.Taught, waited: true);
        Assert.Equal(Ms(6), tracker.Threshold);
    }

    [Fact]
    public void A_proven_position_makes_the_standby_usable_without_a_guard()
    {
        var standby = _f.Node(1, BackendRole.Standby, replayLsn: 1000);
        var s = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary), standby);
        var balancer = new WeightedRoundRobinBalancer();
        Assert.Null(balancer.Pick(s, 1500));
        standby.Backend.Replay.Learn(1600, s.Version);
        Assert.Same(standby, balancer.Pick(s, 1500));
        Assert.Null(balancer.Pick(s, 1700));
    }

    [Fact]
    public void A_read_of_a_recent_write_tries_the_standby_whose_estimate_its_age_has_passed()
    {
        var n1 = _f.Node(1, BackendRole.Standby);
        var n2 = _f.Node(2, BackendRole.Standby);
        var s = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary), n1, n2);
        n1.Backend.Replay.Miss(Ms(50)); // n1 was seen 50 ms behind: 100 ms estimate; n2 keeps 2 ms
        var written = _time.GetTimestamp();

        _time.Advance(Ms(1));
        Assert.Null(CatchUp.GuardCandidate(s, _time.GetElapsedTime(written), TimeSpan.Zero, out _)); // younger than every estimate: the primary
        _time.Advance(Ms(4));
        Assert.Same(n2, CatchUp.GuardCandidate(s, _time.GetElapsedTime(written), TimeSpan.Zero, out var exploring));
        Assert.False(exploring);
        _time.Advance(Ms(200));
        Assert.Same(n2, CatchUp.GuardCandidate(s, _time.GetElapsedTime(written), TimeSpan.Zero, out _)); // both likely: the smaller estimate

        n2.Backend.Replay.Miss(Ms(205)); // n2 now 410 ms, n1 100 ms
        Assert.Same(n1, CatchUp.GuardCandidate(s, _time.GetElapsedTime(written), TimeSpan.Zero, out _));
    }

    [Fact]
    public void One_read_in_sixteen_younger_than_every_estimate_tries_anyway_and_a_pass_there_lowers_the_estimate()
    {
        var n1 = _f.Node(1, BackendRole.Standby);
        var s = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary), n1);
        var tracker = n1.Backend.Replay;
        var tries = 0;
        for (var i = 0; i < 4 * ReplayTracker.ExploreEvery; i++)
        {
            if (CatchUp.GuardCandidate(s, Ms(0.5), TimeSpan.Zero, out var exploring) is not null)
            {
                Assert.True(exploring);
                tries++;
            }
        }
        Assert.Equal(4, tries);

        tracker.Miss(Ms(0.5), exploring: true); // too early, as the estimate said: it learns nothing
        Assert.Equal(ReplayTracker.Initial, tracker.Threshold);
        tracker.Hit(100, version: 1, age: Ms(0.5)); // replayed within 0.5 ms: halfway from 2 ms down to it
        Assert.Equal(Ms(1.25), tracker.Threshold);
        for (var i = 0; i < 20; i++)
            tracker.Hit(100, version: 1, age: TimeSpan.Zero);
        Assert.Equal(ReplayTracker.Floor, tracker.Threshold);
    }

    [Fact]
    public void A_paused_or_suspect_standby_gets_no_guarded_reads_and_the_primary_none_at_all()
    {
        var paused = _f.Node(1, BackendRole.Standby);
        var pausedNode = new NodeState
        {
            Backend = paused.Backend, Role = BackendRole.Standby, State = BackendState.Up, LastProbeOk = true, ReplayLsn = 100, ReadEligible = true, ReplayPaused = true,
        };
        var suspect = _f.Node(2, BackendRole.Standby);
        var primary = _f.Node(0, BackendRole.Primary);
        var s = PolicyFixtures.Snapshot(primary, primary, pausedNode, suspect);
        suspect.Backend.MarkSuspect(PolicyFixtures.RoundStarted + 1);
        Assert.Null(CatchUp.GuardCandidate(s, TimeSpan.FromSeconds(1), TimeSpan.Zero, out _));
    }

    // (estimate of the standby in ms: 2 is the initial one, age of the write, the guard's wait, tried behind the guard)
    [Theory]
    [InlineData(2, 0, 0, false)] // right after the write, no wait: too early for a 2 ms estimate
    [InlineData(2, 0, 5, true)] // the guard waits 5 ms on the standby: by then a 2 ms standby has replayed it
    [InlineData(2, 0, 2, true)]
    [InlineData(2, 0.5, 1, false)]
    [InlineData(100, 0, 5, false)] // a standby seen 50 ms behind: the primary at once rather than a guard that misses
    [InlineData(100, 96, 5, true)]
    [InlineData(100, 90, 5, false)]
    public void A_guard_that_waits_on_the_standby_is_tried_when_the_write_will_be_older_than_the_estimate_by_the_end_of_the_wait(
        double estimateMs, double ageMs, double waitMs, bool tried)
    {
        var n1 = _f.Node(1, BackendRole.Standby);
        var s = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary), n1);
        if (estimateMs > ReplayTracker.Initial.TotalMilliseconds)
            n1.Backend.Replay.Miss(Ms(estimateMs / 2));
        Assert.Equal(Ms(estimateMs), n1.Backend.Replay.Threshold);
        var written = _time.GetTimestamp();
        _time.Advance(Ms(ageMs));
        var candidate = CatchUp.GuardCandidate(s, _time.GetElapsedTime(written), Ms(waitMs), out var exploring);
        Assert.Equal(tried, candidate is not null);
        Assert.False(exploring); // the first read below the estimate does not explore (one in 16 does)
    }

    [Fact]
    public async Task The_standby_holding_the_sessions_state_is_tried_behind_the_guard_when_its_estimate_allows_and_no_other_is_known_past_the_write()
    {
        var options = new RoutingOptions { ReadYourWritesWait = Ms(5) };
        await using var monitor = new TopologyMonitor(_f.Backends, options, NullLogger.Instance, _time);
        var selector = new BackendSelector(monitor, new WeightedRoundRobinBalancer(), options, _time);
        var n1 = _f.Node(1, BackendRole.Standby);
        var n2 = _f.Node(2, BackendRole.Standby);
        var s = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary, replayLsn: 500), n1, n2);
        var written = _time.GetTimestamp();
        var session = new SessionState { LastWrite = written, WriteLsn = 400 };
        n1.Backend.Replay.Miss(Ms(50)); // n1: 100 ms estimate; n2 keeps the initial 2 ms

        var sink = new Sink(canGuard: true);
        Assert.False(selector.GuardOnHeld(n1, s, session, sink)); // 0 ms old + the 5 ms wait < 100 ms: not there
        Assert.Null(sink.Node);
        Assert.True(selector.GuardOnHeld(n2, s, session, sink));
        Assert.Equal((n2, 400UL, written, false), (sink.Node, sink.Lsn, sink.WrittenAt, sink.Exploring));
        _time.Advance(Ms(96));
        Assert.True(selector.GuardOnHeld(n1, s, session, sink)); // 96 + 5 ms reach n1's estimate

        // Another standby known past the write: a read there waits for no replay, so not behind the guard here.
        var caughtUp = PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary, replayLsn: 500), n1, _f.Node(2, BackendRole.Standby, replayLsn: 450));
        Assert.False(selector.GuardOnHeld(n1, caughtUp, session, new Sink(canGuard: true)));

        // Nothing to see, a read that cannot carry a guard, a paused or suspect standby, the primary: never.
        Assert.False(selector.GuardOnHeld(n2, s, new SessionState(), new Sink(canGuard: true)));
        Assert.False(selector.GuardOnHeld(n2, s, session, new Sink(canGuard: false)));
        var paused = new NodeState
        {
            Backend = n2.Backend, Role = BackendRole.Standby, State = BackendState.Up, LastProbeOk = true, ReplayLsn = 100, ReadEligible = true, ReplayPaused = true,
        };
        Assert.False(selector.GuardOnHeld(paused, s, session, new Sink(canGuard: true)));
        Assert.False(selector.GuardOnHeld(s.Primary!, s, session, new Sink(canGuard: true)));
        n2.Backend.MarkSuspect(PolicyFixtures.RoundStarted + 1);
        Assert.False(selector.GuardOnHeld(n2, s, session, new Sink(canGuard: true)));
    }

    private sealed class Sink(bool canGuard) : IReadGuardSink
    {
        public NodeState? Node { get; private set; }
        public ulong Lsn { get; private set; }
        public long WrittenAt { get; private set; }
        public bool Exploring { get; private set; }

        public bool CanGuard => canGuard;

        public bool GuardRead(NodeState node, ulong requiredLsn, long writtenAt, bool exploring)
        {
            (Node, Lsn, WrittenAt, Exploring) = (node, requiredLsn, writtenAt, exploring);
            return true;
        }
    }

    public ValueTask DisposeAsync() => _f.DisposeAsync();
}
