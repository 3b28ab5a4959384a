namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// The lease timing, pure: when a leader must have renewed by, how often it renews, and how often a follower looks
/// for a vacant leader key. etcd extends a lease to TTL from when it receives the renewal, which is after it was
/// sent, so a deadline counted from the send is never later than the lease's real end.
/// </summary>
internal static class LeaseDeadline
{
    /// <summary>The part of the TTL a leader never acts in: a fifth of it, at least 500 ms (Patroni keeps a similar margin).</summary>
    public static TimeSpan SafetyMargin(TimeSpan ttl) => TimeSpan.FromTicks(Math.Max(ttl.Ticks / 5, TimeSpan.FromMilliseconds(500).Ticks));

    /// <summary>The renewal period: a third of the TTL, so that two renewals may fail before the margin is reached.</summary>
    public static TimeSpan RenewInterval(TimeSpan ttl) => ttl / 3;

    /// <summary>How often a follower tries to take a vacant leader key: a quarter of the TTL, at most 1 s.</summary>
    public static TimeSpan CampaignInterval(TimeSpan ttl) => TimeSpan.FromTicks(Math.Min(ttl.Ticks / 4, TimeSpan.TicksPerSecond));

    /// <summary>
    /// The longest one etcd call may take: a quarter of the TTL, at least 500 ms, at most 2 s. It bounds how long a hung
    /// member can hold a call, not how long a leader acts: that is the deadline's business.
    /// </summary>
    public static TimeSpan RequestTimeout(TimeSpan ttl) => TimeSpan.FromTicks(Math.Clamp(ttl.Ticks / 4, TimeSpan.FromMilliseconds(500).Ticks, 2 * TimeSpan.TicksPerSecond));

    /// <summary>The leadership deadline after a renewal sent at <paramref name="sentTimestamp"/> that etcd answered with <paramref name="grantedTtl"/>.</summary>
    public static long After(long sentTimestamp, TimeSpan grantedTtl, TimeSpan requestedTtl, TimeProvider time)
    {
        var usable = grantedTtl - SafetyMargin(requestedTtl);
        return usable <= TimeSpan.Zero ? sentTimestamp : sentTimestamp + (long)(usable.TotalSeconds * time.TimestampFrequency);
    }
}
