using RoutingDataSource.Chaos.Faults;
using RoutingDataSource.Chaos.Workload;

namespace RoutingDataSource.Chaos.Results;

/// <summary>One fault with what the workload saw of it, from its start to the cluster being whole again.</summary>
internal sealed record FaultStats
{
    public required FaultRecord Fault { get; init; }

    /// <summary>
    /// The longest time without an acknowledged write around the fault: from the last acknowledgement before it over
    /// every acknowledgement in its window; to the window's end when none came after the fault.
    /// </summary>
    public required double WriteGapSeconds { get; init; }

    /// <summary>True when no write was acknowledged after the fault within its window (the gap is a lower bound).</summary>
    public required bool NoWriteAfter { get; init; }

    public required long AcknowledgedWrites { get; init; }

    public required long FailedWrites { get; init; }

    public required long FailedReads { get; init; }

    /// <summary>The longest a thread-pool work item waited to run in the window (see <see cref="Checking.ThreadPoolStalls"/>).</summary>
    public required double ThreadPoolDelaySeconds { get; init; }

    /// <summary>Failures in the window by label ("ConnectionLost (may have committed)", a raw type name, "wrong total").</summary>
    public required IReadOnlyDictionary<string, int> Errors { get; init; }

    public static FaultStats Of(FaultRecord fault, IReadOnlyList<Operation> operations, IReadOnlyList<double> acknowledgedWriteEnds, Checking.ThreadPoolStalls stalls)
    {
        var from = fault.Injected;
        var to = Math.Max(fault.Recovered, from);
        var inWindow = operations.Where(o => o.End >= from && o.End <= to && o.Outcome != Outcome.Cancelled).ToList();
        var errors = inWindow.Where(o => o.ErrorLabel.Length > 0)
            .GroupBy(o => (o.IsWrite ? "write: " : "read: ") + o.ErrorLabel, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

        // acknowledgedWriteEnds is sorted: the last acknowledgement at or before the fault, then those in the window.
        var i = UpperBound(acknowledgedWriteEnds, from) - 1;
        var previous = i >= 0 ? acknowledgedWriteEnds[i] : from;
        var gap = 0.0;
        var after = false;
        for (var k = i + 1; k < acknowledgedWriteEnds.Count && acknowledgedWriteEnds[k] <= to; k++)
        {
            gap = Math.Max(gap, acknowledgedWriteEnds[k] - previous);
            previous = acknowledgedWriteEnds[k];
            after = true;
        }

        if (!after)
            gap = to - previous;
        return new FaultStats
        {
            Fault = fault,
            WriteGapSeconds = gap,
            NoWriteAfter = !after,
            AcknowledgedWrites = inWindow.LongCount(o => o.IsWrite && o.Outcome == Outcome.Acknowledged),
            FailedWrites = inWindow.LongCount(o => o.IsWrite && o.Outcome is Outcome.RoutingError or Outcome.RawError),
            FailedReads = inWindow.LongCount(o => !o.IsWrite && o.Outcome is Outcome.RoutingError or Outcome.RawError),
            Errors = errors,
            ThreadPoolDelaySeconds = stalls.MaxDelay(from, to),
        };
    }

    private static int UpperBound(IReadOnlyList<double> sorted, double value)
    {
        int lo = 0, hi = sorted.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] <= value)
                lo = mid + 1;
            else
                hi = mid;
        }

        return lo;
    }
}
