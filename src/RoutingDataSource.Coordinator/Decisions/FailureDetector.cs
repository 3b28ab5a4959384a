using System.Globalization;

namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>
/// Decides whether the primary is dead: <c>FailureThreshold</c> consecutive failed probes AND a second opinion, no
/// standby's WAL receiver still streaming from it (a coordinator cut off from a healthy primary must not promote).
/// Pure apart from the injected clock; fed once per probe round.
/// </summary>
internal sealed class FailureDetector(int threshold, TimeProvider time)
{
    private string? _primary;
    private int _failures;
    private DateTimeOffset _firstFailure;

    /// <summary>Consecutive failures of the current primary so far.</summary>
    public int Failures => _failures;

    /// <summary>Forgets the count (a new primary, or after a failover).</summary>
    public void Reset(string? primary = null)
    {
        _primary = primary;
        _failures = 0;
    }

    public PrimaryVerdict Evaluate(string primary, bool answered, string? error, IReadOnlyList<StandbyEvidence> standbys)
    {
        if (!string.Equals(primary, _primary, StringComparison.Ordinal))
            Reset(primary);
        var now = time.GetUtcNow();
        if (answered)
        {
            var recovered = _failures;
            _failures = 0;
            var note = recovered > 0 ? string.Create(CultureInfo.InvariantCulture, $"{primary} answers again after {recovered} failed probe(s)") : $"{primary} answers";
            return new PrimaryVerdict(VerdictKind.Healthy, primary, 0, TimeSpan.Zero, note, []);
        }

        if (_failures == 0)
            _firstFailure = now;
        _failures++;
        var down = now - _firstFailure;
        var failed = string.Create(CultureInfo.InvariantCulture,
            $"{primary} failed {_failures} consecutive probe(s) over {down.TotalSeconds:0.0} s (last: {error ?? "no answer"})");
        if (_failures < threshold)
            return new PrimaryVerdict(VerdictKind.Suspect, primary, _failures, down, string.Create(CultureInfo.InvariantCulture, $"{failed}; threshold {threshold}"), []);

        var streaming = standbys.Where(s => s.StillStreams).Select(s => s.Name).ToArray();
        var opinions = standbys.Count == 0 ? "no standby to ask" : string.Join(", ", standbys.Select(s => s.Describe()));
        return streaming.Length > 0
            ? new PrimaryVerdict(VerdictKind.Vetoed, primary, _failures, down,
                $"{failed}, but {string.Join(", ", streaming)} still stream(s) from it ({opinions}): not promoting, this coordinator is probably cut off", streaming)
            : new PrimaryVerdict(VerdictKind.Dead, primary, _failures, down, $"{failed}, and no standby streams from it ({opinions})", []);
    }
}
