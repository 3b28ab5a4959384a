using System.Diagnostics;

namespace RoutingDataSource.Chaos;

/// <summary>Seconds since the soak started: the one time base of operations, faults and log lines.</summary>
internal sealed class RunClock
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    public RunClock() => StartedAt = DateTimeOffset.Now;

    public DateTimeOffset StartedAt { get; }

    public double Now => _watch.Elapsed.TotalSeconds;
}
