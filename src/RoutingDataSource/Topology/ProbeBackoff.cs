namespace RoutingDataSource.Topology;

/// <summary>
/// How soon a backend whose probes fail may be probed again when a round is requested early (a failed statement, a
/// waiting write): 100 ms after the first failure, doubling with each further one, never more than the health-check
/// interval, so the scheduled rounds always include it. A dead server that refuses at once is then probed about once
/// an interval, not at the rate statements fail.
/// </summary>
internal static class ProbeBackoff
{
    internal static readonly TimeSpan First = TimeSpan.FromMilliseconds(100);

    /// <summary>The least time between two probes of a backend after <paramref name="consecutiveFailures"/> failed ones.</summary>
    public static TimeSpan Delay(int consecutiveFailures, TimeSpan interval)
    {
        if (consecutiveFailures <= 0)
            return TimeSpan.Zero;
        var doublings = Math.Min(consecutiveFailures - 1, 20);
        var delay = TimeSpan.FromTicks(First.Ticks << doublings);
        return delay < interval ? delay : interval;
    }

    /// <summary>Whether a backend last probed at <paramref name="lastStarted"/> (a timestamp; 0 never) may be probed at <paramref name="now"/>.</summary>
    public static bool IsDue(int consecutiveFailures, long lastStarted, long now, TimeSpan interval, TimeProvider time)
        => lastStarted == 0 || time.GetElapsedTime(lastStarted, now) >= Delay(consecutiveFailures, interval);
}
