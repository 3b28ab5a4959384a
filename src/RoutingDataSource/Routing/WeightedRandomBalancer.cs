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
        if (minimumLsn == 0)
        {
            total = snapshot.TotalReadWeight;
        }
        else
        {
            foreach (var n in candidates)
            {
                if (IsCaughtUp(n, snapshot, minimumLsn))
                    total += n.Backend.Weight;
            }
        }
        if (total == 0)
            return null;
        var ticket = random.Next(total);
        foreach (var n in candidates)
        {
            if (minimumLsn != 0 && !IsCaughtUp(n, snapshot, minimumLsn))
                continue;
            ticket -= n.Backend.Weight;
            if (ticket < 0)
                return n;
        }
        return null;
    }

    internal static bool IsCaughtUp(NodeState n, ClusterSnapshot snapshot, ulong minimumLsn)
        => ReferenceEquals(n, snapshot.Primary) || n.ReplayLsn >= minimumLsn;
}
