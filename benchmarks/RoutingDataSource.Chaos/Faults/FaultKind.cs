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

    /// <summary>HA mode: the leading coordinator dies (cut off from etcd, crash switch, stopped); another must lead; it is started again later.</summary>
    CrashLeader,

    /// <summary>HA mode: the leading coordinator's route to every etcd member drops all traffic for a while (it still reaches PostgreSQL), then heals.</summary>
    CutLeaderFromEtcd,

    /// <summary>HA mode: one etcd member is killed (SIGKILL) and started again a few seconds later; the quorum holds.</summary>
    CrashEtcdMember,

    /// <summary>With agents: a planned switchover to a synchronous standby under the write load; the old primary follows it without a rewind.</summary>
    Switchover,

    /// <summary>With agents: a standby is stopped and its data directory deleted; <c>recover</c> rebuilds it from the primary.</summary>
    DestroyStandby,
}

internal static class FaultKinds
{
    /// <summary>Whether the fault needs the HA mode (three coordinators on etcd).</summary>
    public static bool NeedsHa(this FaultKind kind) => kind is FaultKind.CrashLeader or FaultKind.CutLeaderFromEtcd or FaultKind.CrashEtcdMember;

    /// <summary>Whether the fault needs the node agents.</summary>
    public static bool NeedsAgents(this FaultKind kind) => kind is FaultKind.Switchover or FaultKind.DestroyStandby;
}
