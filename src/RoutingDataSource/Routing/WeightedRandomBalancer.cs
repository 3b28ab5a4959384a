using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>Weighted random choice among the caught-up candidates (Pgpool's backend_weight semantics).</summary>
internal sealed class WeightedRandomBalancer(Random random) : IReadBalancer
{
    public NodeState? Pick(ClusterSnapshot snapshot, ulong minimumLsn)
    {
        var candidates = snapshot.ReadCandidates;
        if (candidates.Length == 0)
            return null;
        var total = 0;
        foreach (var n in candidates)
        {
            if (IsUsable(n, snapshot, minimumLsn))
                total += n.Backend.Weight;
        }
        if (total == 0)
            return null;
        var ticket = random.Next(total);
        foreach (var n in candidates)
        {
            if (!IsUsable(n, snapshot, minimumLsn))
                continue;
            ticket -= n.Backend.Weight;
            if (ticket < 0)
                return n;
        }
        return null;
    }

    /// <summary>Not suspect since the snapshot's round started, and replayed at least <paramref name="minimumLsn"/> (the primary always has).</summary>
    internal static bool IsUsable(NodeState n, ClusterSnapshot snapshot, ulong minimumLsn)
        => !n.Backend.IsSuspectAfter(snapshot.StartedTimestamp)
            && (minimumLsn == 0 || ReferenceEquals(n, snapshot.Primary) || n.ReplayLsn >= minimumLsn);
}
