using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>Chooses which eligible node serves a read. One method; each policy is a small class.</summary>
internal interface IReadBalancer
{
    /// <summary>
    /// Picks among <see cref="ClusterSnapshot.ReadCandidates"/> those whose replay position is at least
    /// <paramref name="minimumLsn"/> (0: no requirement). Returns null when none qualifies. Must not allocate.
    /// </summary>
    NodeState? Pick(ClusterSnapshot snapshot, ulong minimumLsn);
}
