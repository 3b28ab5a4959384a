namespace RoutingDataSource.Topology;

/// <summary>Why a cluster snapshot has no write target (its human-readable message is kept beside it).</summary>
internal enum ClusterProblem : byte
{
    /// <summary>There is a writable primary.</summary>
    None,

    /// <summary>No probe round has finished yet.</summary>
    NotProbedYet,

    /// <summary>No backend that is up answered as a primary on the highest timeline.</summary>
    NoPrimary,

    /// <summary>Split brain: two primaries on the same (highest) timeline, so none is writable.</summary>
    TwoPrimaries,
}
