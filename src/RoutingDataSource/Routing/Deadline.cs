namespace RoutingDataSource.Routing;

/// <summary>
/// A point in time a wait must not pass, on a <see cref="TimeProvider"/>'s monotonic timestamps (so tests control it).
/// One type for every bounded wait: for a primary, for a standby to catch up, for retries.
/// </summary>
internal readonly struct Deadline
{
    private readonly TimeProvider _time;
    private readonly long _at;

    private Deadline(TimeProvider time, long at)
    {
        _time = time;
        _at = at;
    }

    /// <summary>The deadline <paramref name="budget"/> from now.</summary>
    public static Deadline After(TimeSpan budget, TimeProvider time)
        => new(time, time.GetTimestamp() + (long)(budget.TotalSeconds * time.TimestampFrequency));

    /// <summary>Whether the deadline has passed.</summary>
    public bool HasPassed => _time.GetTimestamp() >= _at;

    /// <summary>The time left (zero once passed).</summary>
    public TimeSpan Remaining
    {
        get
        {
            var left = _at - _time.GetTimestamp();
            return left <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)left / _time.TimestampFrequency);
        }
    }
}
