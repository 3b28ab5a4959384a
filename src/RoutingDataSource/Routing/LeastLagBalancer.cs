using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>The caught-up candidate with the least replication lag (<see cref="RoutingOptions.PreferLowerLagStandby"/>).</summary>
internal sealed class LeastLagBalancer : IReadBalancer
{
    public NodeState? Pick(ClusterSnapshot snapshot, ulong minimumLsn)
    {
        NodeState? best = null;
        foreach (var n in snapshot.ReadCandidates)
        {
            if (!WeightedRoundRobinBalancer.IsUsable(n, snapshot, minimumLsn))
                continue;
            if (best is null || (n.LagBytes ?? long.MaxValue) < (best.LagBytes ?? long.MaxValue))
                best = n;
        }
        return best;
    }
}
