using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Topology;

/// <summary>The pure topology rules: Down after N failures, failback, fencing by timeline, two primaries, lag eligibility.</summary>
public sealed class SnapshotBuilderTests : IAsyncDisposable
{
    private readonly Backend[] _backends;
    private readonly RoutingOptions _options = new() { HealthCheckMaxRetries = 3, MaxReplicationLagBytes = 1000, MaxReplicationLag = TimeSpan.FromSeconds(5) };
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public SnapshotBuilderTests()
    {
        _backends = Enumerable.Range(0, 3).Select(i => new Backend(i, "n" + i, "127.0.0.1", 1000 + i, weight: i == 0 ? 0 : 1,
            NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"))).ToArray();
    }

    private static BackendObservation Primary(ulong lsn, int timeline = 1) => new() { Reachable = true, InRecovery = false, CurrentLsn = lsn, ReplayLsn = lsn, Timeline = timeline, At = T0 };

    private static BackendObservation Standby(ulong replay, int timeline = 1) => new() { Reachable = true, InRecovery = true, CurrentLsn = replay, ReplayLsn = replay, Timeline = timeline, At = T0 };

    private static BackendObservation WithSystem(BackendObservation o, ulong system) => new()
    {
        Reachable = o.Reachable, InRecovery = o.InRecovery, CurrentLsn = o.CurrentLsn, ReplayLsn = o.ReplayLsn, Timeline = o.Timeline, At = o.At, SystemIdentifier = system,
    };

    private static BackendObservation Failed() => BackendObservation.Failed("connection refused", T0);

    private ClusterSnapshot Round(ClusterSnapshot prev, params BackendObservation[] obs) => SnapshotBuilder.Build(prev, obs, SnapshotBuilder.DetachedFlags(prev), _options, T0.AddSeconds(prev.Version));

    [Fact]
    public void Roles_come_from_recovery_state_and_the_primary_is_chosen()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(5000), Standby(5000), Standby(4500));
        Assert.Equal("n0", s.Primary!.Backend.Name);
        Assert.Equal([BackendRole.Primary, BackendRole.Standby, BackendRole.Standby], s.Nodes.Select(n => n.Role));
        Assert.Equal([0L, 0L, 500L], s.Nodes.Select(n => n.LagBytes!.Value));
        Assert.Equal(TimeSpan.Zero, s.Nodes[1].Lag); // idle and fully replayed: zero, not unknown
        Assert.Equal(["n1", "n2"], s.ReadCandidates.Select(n => n.Backend.Name));
    }

    [Fact]
    public void A_standby_on_a_timeline_below_the_primary_s_gets_no_reads_although_it_reports_no_lag()
    {
        // Orphaned by a promotion: still on timeline 1, replayed up to where the new primary's timeline 2 began.
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(5000, timeline: 2), Standby(5000, timeline: 2), Standby(5000, timeline: 1));
        Assert.Equal(0L, s.Nodes[2].LagBytes);
        Assert.True(s.Nodes[1].ReadEligible);
        Assert.False(s.Nodes[2].ReadEligible);
        Assert.Contains("below the primary's timeline 2", s.Nodes[2].Reason, StringComparison.Ordinal);
        Assert.Equal(["n1"], s.ReadCandidates.Select(n => n.Backend.Name));
        s = Round(s, Primary(5000, timeline: 2), Standby(5000, timeline: 2), Standby(5000, timeline: 2)); // repointed: reads again
        Assert.True(s.Nodes[2].ReadEligible);
    }

    [Fact]
    public void A_standby_with_another_system_identifier_gets_no_reads()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), WithSystem(Primary(5000), 7), WithSystem(Standby(5000), 7), WithSystem(Standby(5000), 8));
        Assert.True(s.Nodes[1].ReadEligible);
        Assert.False(s.Nodes[2].ReadEligible);
        Assert.Contains("system identifier 8 differs from the primary's 7", s.Nodes[2].Reason, StringComparison.Ordinal);
        Assert.Equal(8UL, s.Nodes[2].SystemIdentifier);
        // The primary's identifier is remembered while it is unreachable.
        s = Round(s, Failed(), WithSystem(Standby(5000), 7), WithSystem(Standby(5000), 8));
        Assert.False(s.Nodes[2].ReadEligible);
        Assert.True(s.Nodes[1].ReadEligible);
    }

    [Fact]
    public void A_node_goes_down_only_after_the_configured_consecutive_failures_and_comes_back()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(1), Standby(1), Standby(1));
        s = Round(s, Primary(1), Standby(1), Failed());
        Assert.Equal(BackendState.Up, s.Nodes[2].State);
        Assert.False(s.Nodes[2].ReadEligible); // a failing standby gets no reads at once
        s = Round(s, Primary(1), Standby(1), Failed());
        Assert.Equal(BackendState.Up, s.Nodes[2].State);
        s = Round(s, Primary(1), Standby(1), Failed());
        Assert.Equal(BackendState.Down, s.Nodes[2].State);
        s = Round(s, Primary(1), Standby(1), Standby(1));
        Assert.Equal(BackendState.Up, s.Nodes[2].State);
        Assert.True(s.Nodes[2].ReadEligible);
    }

    [Fact]
    public void A_node_whose_probe_is_still_running_stays_as_it_was_and_counts_no_failure()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(1), Standby(1), Standby(1));
        s = Round(s, Primary(1), Standby(1), Failed());
        var before = s.Nodes[2];
        s = Round(s, Primary(2), Standby(2), BackendObservation.Pending);
        Assert.Same(before, s.Nodes[2]);
        Assert.Equal(1, s.Nodes[2].ConsecutiveFailures);
        Assert.Equal(2UL, s.Nodes[1].ReplayLsn); // the others' news is taken in
        s = Round(s, BackendObservation.Pending, BackendObservation.Pending, Failed()); // the late answer, counted once
        Assert.Equal(2, s.Nodes[2].ConsecutiveFailures);
        Assert.Equal("n0", s.Primary!.Backend.Name);
    }

    [Fact]
    public void A_hung_primary_with_no_news_is_fenced_as_soon_as_a_standby_is_promoted()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(5), Standby(5), Standby(5));
        s = Round(s, BackendObservation.Pending, Primary(6, timeline: 2), Standby(5));
        Assert.Equal("n1", s.Primary!.Backend.Name);
        Assert.Equal(BackendState.Fenced, s.Nodes[0].State);
        Assert.False(s.Nodes[0].ReadEligible);
    }

    [Fact]
    public void A_node_that_never_answered_is_down_at_once()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(1), Standby(1), Failed());
        Assert.Equal(BackendState.Down, s.Nodes[2].State);
    }

    [Fact]
    public void A_primary_on_a_lower_timeline_is_fenced_and_the_higher_one_wins()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(100, timeline: 1), Primary(200, timeline: 2), Standby(200, timeline: 2));
        Assert.Equal("n1", s.Primary!.Backend.Name);
        Assert.Equal(BackendState.Fenced, s.Nodes[0].State);
        Assert.Contains("timeline", s.Nodes[0].Reason, StringComparison.Ordinal);
        Assert.Equal(ClusterProblem.None, s.Problem);
        Assert.Null(s.ProblemMessage);
    }

    [Fact]
    public void The_highest_timeline_is_remembered_so_an_old_primary_stays_fenced_alone()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Failed(), Primary(200, timeline: 2), Standby(200, timeline: 2));
        s = Round(s, Primary(100, timeline: 1), Failed(), Standby(200, timeline: 2));
        Assert.Equal(BackendState.Fenced, s.Nodes[0].State);
        Assert.NotEqual("n0", s.Primary?.Backend.Name);
    }

    [Fact]
    public void Two_primaries_on_the_same_timeline_leave_no_writable_primary()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(100), Primary(100), Standby(100));
        Assert.Null(s.Primary);
        Assert.Equal(ClusterProblem.TwoPrimaries, s.Problem);
        Assert.StartsWith("two primaries", s.ProblemMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void No_primary_is_its_own_problem_with_its_message()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Failed(), Standby(100), Standby(100));
        Assert.Equal(ClusterProblem.NoPrimary, s.Problem);
        Assert.StartsWith("no primary", s.ProblemMessage, StringComparison.Ordinal);
        Assert.Equal(ClusterProblem.NotProbedYet, ClusterSnapshot.Initial(_backends).Problem);
    }

    [Fact]
    public void Which_backends_are_detached_is_an_input_not_read_from_the_backends()
    {
        var prev = ClusterSnapshot.Initial(_backends);
        BackendObservation[] obs = [Primary(100), Standby(100), Standby(100)];
        var s = SnapshotBuilder.Build(prev, obs, [false, true, false], _options, T0);
        Assert.False(_backends[1].Detached);
        Assert.Equal(BackendState.Detached, s.Nodes[1].State);
        Assert.Equal(["n2"], s.ReadCandidates.Select(n => n.Backend.Name));
        Assert.Equal(BackendState.Up, SnapshotBuilder.Build(prev, obs, [false, false, false], _options, T0).Nodes[1].State);
    }

    [Fact]
    public void A_standby_over_the_lag_limits_gets_no_reads()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(10_000), Standby(10_000), Standby(5_000));
        Assert.True(s.Nodes[1].ReadEligible);
        Assert.False(s.Nodes[2].ReadEligible);
        Assert.Contains("lag", s.Nodes[2].Reason, StringComparison.Ordinal);
        Assert.Equal(["n1"], s.ReadCandidates.Select(n => n.Backend.Name));
    }

    [Fact]
    public void Before_any_primary_was_seen_lag_is_measured_against_the_most_advanced_standby()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Failed(), Standby(5000), Standby(3000));
        Assert.Equal(0L, s.Nodes[1].LagBytes);
        Assert.Equal(2000L, s.Nodes[2].LagBytes);
        Assert.Equal(["n1"], s.ReadCandidates.Select(n => n.Backend.Name));
    }

    [Fact]
    public void A_standby_whose_probe_fails_gets_no_reads()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(1), Standby(1), Standby(1));
        s = Round(s, Primary(1), Failed(), Standby(1));
        Assert.Equal(["n2"], s.ReadCandidates.Select(n => n.Backend.Name));
    }

    [Fact]
    public void When_the_primary_stops_answering_caught_up_standbys_keep_serving_reads()
    {
        var s = Round(ClusterSnapshot.Initial(_backends), Primary(5000), Standby(5000), Standby(5000));
        s = Round(s, Failed(), Standby(5000), Standby(5000));
        Assert.Equal(["n1", "n2"], s.ReadCandidates.Select(n => n.Backend.Name));
        Assert.Equal(0L, s.Nodes[1].LagBytes);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var b in _backends)
            await b.DisposeAsync();
    }
}
