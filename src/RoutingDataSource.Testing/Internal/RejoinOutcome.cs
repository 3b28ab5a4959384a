namespace RoutingDataSource.Testing.Internal;

/// <summary>How <see cref="LocalPgNode.RejoinAsync"/> brought a node back.</summary>
internal enum RejoinMethod
{
    /// <summary>pg_rewind onto the new primary's history.</summary>
    Rewind,

    /// <summary>A fresh pg_basebackup, after pg_rewind failed or its result could not come up.</summary>
    BaseBackup,
}

/// <summary>The way a rejoin went, and why pg_rewind was not enough when it was not.</summary>
internal sealed record RejoinOutcome(RejoinMethod Method, string? RewindProblem);
