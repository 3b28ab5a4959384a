using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Read-your-writes, as plain arithmetic over timestamps and WAL positions. A write is remembered only by the moment
/// it was acknowledged; the first health-probe sample of the primary's insert position taken after that moment is a
/// position at or past the write's commit record. A standby may serve the read once its replay position reaches it.
/// </summary>
/// <remarks>
/// Why this way: asking the primary for <c>pg_current_wal_insert_lsn()</c> after each write would add a round trip
/// to every write, and appending it to the user's statement would change their results. The monitor samples the
/// position every round anyway, so the write path costs nothing; the price is that reads right after a write go to
/// the primary until the next round (at most <see cref="RoutingOptions.HealthCheckInterval"/>, shortened by an
/// early round that such a read requests).
/// </remarks>
internal static class ReadRequirement
{
    /// <summary>Sentinel: the position is not known yet, so no standby qualifies.</summary>
    public const ulong Unresolved = ulong.MaxValue;

    /// <summary>
    /// The replay position a standby needs to serve the read: the highest of a causality token's position (bounded,
    /// see <see cref="TokenLsn"/>) and the positions of the writes in scope (0 when nothing is required).
    /// </summary>
    public static ulong MinimumLsn(ClusterSnapshot snapshot, ReadYourWritesScope scope, long connectionWrite, long dataSourceWrite, ulong tokenLsn, long tokenAt)
    {
        var required = TokenLsn(snapshot, tokenLsn, tokenAt);
        if (scope == ReadYourWritesScope.None)
            return required;
        var write = scope == ReadYourWritesScope.DataSource ? Math.Max(connectionWrite, dataSourceWrite) : connectionWrite;
        if (write == 0)
            return required;
        return snapshot.LsnAfter(write) is { } lsn ? Math.Max(required, lsn) : Unresolved;
    }

    /// <summary>
    /// A causality token's position, as far as it can be true: no token can name a position past the primary's insert
    /// position at the moment it was presented (<paramref name="tokenAt"/>), so one past the first sample taken after
    /// that moment is forged or corrupt and is clamped to that sample. Until such a sample exists, a position past
    /// every sample is treated like a write made when the token was presented: unresolved for one probe round.
    /// </summary>
    public static ulong TokenLsn(ClusterSnapshot snapshot, ulong tokenLsn, long tokenAt)
    {
        var history = snapshot.LsnHistory;
        if (tokenLsn == 0 || (history.Length > 0 && tokenLsn <= history[^1].Lsn))
            return tokenLsn;
        return snapshot.LsnAfter(tokenAt) is { } bound ? Math.Min(tokenLsn, bound) : Unresolved;
    }
}
