namespace RoutingDataSource.Chaos.Faults;

/// <summary>The faults the soak injects.</summary>
internal enum FaultKind
{
    /// <summary>The primary is stopped with SIGQUIT (<c>pg_ctl -m immediate</c>); it rejoins as a standby once another is promoted.</summary>
    CrashPrimary,

    /// <summary>The primary and all its processes are stopped with SIGSTOP for a while, then thawed; rejoined if it was replaced.</summary>
    FreezePrimary,

    /// <summary>A standby is stopped with SIGQUIT and started again a few seconds later.</summary>
    CrashStandby,

    /// <summary>Every path to the primary (client, coordinator, the standbys' replication) drops all traffic for a while.</summary>
    CutPrimary,

    /// <summary>The primary is frozen, replaced, thawed, and left running (fenced) for a long time before it is rejoined.</summary>
    LateReturn,
}
