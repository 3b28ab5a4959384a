using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Read-your-writes, as plain arithmetic over timestamps and WAL positions. A write outside a transaction and a COMMIT
/// read the primary's insert position in their own round trip, after the commit (see <c>CommitPosition</c>): a position
/// at or past the end of the commit record. A write whose position could not be read that way (a reader over a write's
/// results, a multi-statement text) is remembered by the moment it was acknowledged; the first health-probe sample of
/// the primary's insert position taken after that moment stands for it. A standby may serve the read once its replay
/// position reaches the required one.
/// </summary>
internal static class ReadRequirement
{
    /// <summary>Sentinel: the position is not known yet, so no standby qualifies.</summary>
    public const ulong Unresolved = ulong.MaxValue;

    /// <summary>
    /// The replay position a standby needs to serve the read: the highest of a causality token's position (bounded,
    /// see <see cref="TokenLsn"/>) and the positions of the writes in scope (0 when nothing is required).
    /// </summary>
    /// <param name="snapshot">The cluster view with the primary's sampled positions.</param>
    /// <param name="scope">Which writes count.</param>
    /// <param name="connectionWrite">When the connection's last write was acknowledged (0: none).</param>
    /// <param name="connectionWriteLsn">That write's commit position when known (0: unknown, the sample after <paramref name="connectionWrite"/> stands for it).</param>
    /// <param name="dataSourceUnpositioned">When the data source's last write of unknown position was acknowledged (0: none).</param>
    /// <param name="dataSourceWriteLsn">The highest commit position of the data source's writes (0: none).</param>
    /// <param name="tokenLsn">A causality token's position (0: none).</param>
    /// <param name="tokenAt">When the token was presented.</param>
    public static ulong MinimumLsn(ClusterSnapshot snapshot, ReadYourWritesScope scope, long connectionWrite, ulong connectionWriteLsn,
        long dataSourceUnpositioned, ulong dataSourceWriteLsn, ulong tokenLsn, long tokenAt)
    {
        var required = TokenLsn(snapshot, tokenLsn, tokenAt);
        if (scope == ReadYourWritesScope.None || required == Unresolved)
            return required;
        if (connectionWrite != 0)
            required = Math.Max(required, connectionWriteLsn != 0 ? connectionWriteLsn : Sampled(snapshot, connectionWrite));
        if (scope == ReadYourWritesScope.DataSource)
        {
            required = Math.Max(required, dataSourceWriteLsn);
            if (dataSourceUnpositioned != 0)
                required = Math.Max(required, Sampled(snapshot, dataSourceUnpositioned));
        }
        return required;
    }

    private static ulong Sampled(ClusterSnapshot snapshot, long acknowledged) => snapshot.LsnAfter(acknowledged) ?? Unresolved;

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
