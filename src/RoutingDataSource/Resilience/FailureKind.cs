namespace RoutingDataSource.Resilience;

/// <summary>What an exception from a routed statement says about the server it ran on.</summary>
internal enum FailureKind : byte
{
    /// <summary>An ordinary error (syntax, constraint, permission...): the server is fine; never retried.</summary>
    Other,

    /// <summary>The server is gone or unreachable: refused, reset, closed, timed out, admin shutdown (57P01/02/03), class 08.</summary>
    ServerGone,

    /// <summary>SQLSTATE 25006: the server refused a write because it is (or became) read-only.</summary>
    ReadOnly,

    /// <summary>
    /// A standby refused a read because it is in recovery (README, "Standby refusals"): an unlogged or temporary
    /// relation (0A000) or a function that cannot run during recovery (55000). The primary can run it.
    /// </summary>
    RecoveryRefusal,

    /// <summary>A standby cancelled the statement because it conflicted with WAL replay (40001, 40P01 "conflict with recovery").</summary>
    ReplayConflict,
}
