using RoutingDataSource.Coordinator.Decisions;

namespace RoutingDataSource.Coordinator.Tests.Decisions;

public sealed class FailureDetectorTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private readonly ManualTime _time = new();

    private static StandbyEvidence Streaming(string name, bool? fromPrimary = true) => new(name, true, "streaming", fromPrimary);

    private static StandbyEvidence NotStreaming(string name) => new(name, true, null, null);

    [Fact]
    public void Failures_below_the_threshold_are_only_suspicion()
    {
        var d = new FailureDetector(3, _time);
        Assert.Equal(VerdictKind.Suspect, d.Evaluate("n0", false, "refused", [NotStreaming("n1")]).Kind);
        _time.Now += TimeSpan.FromSeconds(0.5);
        var v = d.Evaluate("n0", false, "refused", [NotStreaming("n1")]);
        Assert.Equal(VerdictKind.Suspect, v.Kind);
        Assert.Equal(2, v.Failures);
        Assert.Contains("threshold 3", v.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void Threshold_failures_and_no_standby_streaming_mean_dead_with_the_evidence()
    {
        var d = new FailureDetector(3, _time);
        d.Evaluate("n0", false, "refused", []);
        _time.Now += TimeSpan.FromSeconds(0.5);
        d.Evaluate("n0", false, "refused", []);
        _time.Now += TimeSpan.FromSeconds(0.5);
        var v = d.Evaluate("n0", false, "connection refused", [NotStreaming("n1"), new StandbyEvidence("n2", false, null, null)]);
        Assert.Equal(VerdictKind.Dead, v.Kind);
        Assert.Equal(TimeSpan.FromSeconds(1), v.Unreachable);
        Assert.Contains("failed 3 consecutive probe(s) over 1.0 s (last: connection refused)", v.Evidence, StringComparison.Ordinal);
        Assert.Contains("n1: no WAL receiver", v.Evidence, StringComparison.Ordinal);
        Assert.Contains("n2: unreachable", v.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void A_standby_still_streaming_from_the_primary_vetoes()
    {
        var d = new FailureDetector(1, _time);
        var v = d.Evaluate("n0", false, "timeout", [NotStreaming("n1"), Streaming("n2")]);
        Assert.Equal(VerdictKind.Vetoed, v.Kind);
        Assert.Equal(["n2"], v.StreamingStandbys);
        Assert.Contains("cut off", v.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void Streaming_from_an_unknown_sender_vetoes_but_from_another_member_does_not()
    {
        Assert.Equal(VerdictKind.Vetoed, new FailureDetector(1, _time).Evaluate("n0", false, null, [Streaming("n1", fromPrimary: null)]).Kind);
        Assert.Equal(VerdictKind.Dead, new FailureDetector(1, _time).Evaluate("n0", false, null, [Streaming("n1", fromPrimary: false)]).Kind);
        Assert.Equal(VerdictKind.Dead, new FailureDetector(1, _time).Evaluate("n0", false, null, [new StandbyEvidence("n1", true, "waiting", true)]).Kind);
    }

    [Fact]
    public void An_answer_resets_the_count_and_a_new_primary_starts_from_zero()
    {
        var d = new FailureDetector(3, _time);
        d.Evaluate("n0", false, null, []);
        d.Evaluate("n0", false, null, []);
        var healthy = d.Evaluate("n0", true, null, []);
        Assert.Equal(VerdictKind.Healthy, healthy.Kind);
        Assert.Contains("after 2 failed", healthy.Evidence, StringComparison.Ordinal);
        Assert.Equal(VerdictKind.Suspect, d.Evaluate("n0", false, null, []).Kind);
        Assert.Equal(1, d.Evaluate("n1", false, null, []).Failures);
    }
}
