namespace RoutingDataSource.Coordinator.Agent;

/// <summary>What an agent is ordered to do to its own server.</summary>
internal enum AgentOrderKind
{
    /// <summary><c>pg_ctl start</c>, refused unless the data directory is a standby's (standby.signal): an agent never starts a primary.</summary>
    Start,

    /// <summary><c>pg_ctl stop -m fast</c>.</summary>
    Stop,

    /// <summary>Fast stop, then start (a standby only, as <see cref="Start"/>).</summary>
    Restart,

    /// <summary>Clean shutdown, standby.signal, primary_conninfo and primary_slot_name of the upstream, start: no rewind (after a switchover).</summary>
    Demote,

    /// <summary>Immediate stop, pg_rewind onto the upstream's history (or a rebuild, as the order allows), standby configuration, start.</summary>
    Rejoin,

    /// <summary>A fresh pg_basebackup of the upstream into a new directory; the old one is kept aside until the new one streams.</summary>
    Rebuild,

    /// <summary>
    /// Starts a primary that a switchover shut down cleanly, when the switchover is abandoned before any promotion:
    /// refused unless the control file says "shut down" (a clean shutdown as a primary).
    /// </summary>
    Resume,

    /// <summary>
    /// Nothing done to the server: the order's term is recorded as the highest obeyed (a new leader sends it to every
    /// agent as it takes office, so that a deposed leader's orders are refused from then on, even before the new
    /// leader has a real order to give). Answered at once, also while another order runs.
    /// </summary>
    Announce,
}

/// <summary>The primary an order points the server at: where to stream from, through which slot.</summary>
internal sealed record Upstream(string Name, string Host, int Port, string Slot);

/// <summary>
/// One order to an agent. <see cref="Term"/> is the leader's fencing token (HA mode: the leader key's create
/// revision; a coordinator alone sends 0): the agent refuses one lower than the highest it has obeyed.
/// </summary>
internal sealed record AgentOrder(string Member, AgentOrderKind Kind, long Term, string Leader, Upstream? Upstream = null, RejoinPolicy Method = RejoinPolicy.RewindOrRebuild);

/// <summary>What an order did: each step as it happened, the way the server came back (<c>rewind</c>, <c>rebuild</c>, ...) and the error when it failed.</summary>
internal sealed record AgentOrderResult(string Member, AgentOrderKind Kind, long Term, bool Succeeded, string? How, string? Error, IReadOnlyList<string> Steps, LocalFacts Facts);

/// <summary>
/// What the agent knows of its server without SQL: whether the postmaster runs, the control file (state, timeline,
/// system identifier, wal_log_hints, data checksums), standby.signal, and whether a WAL receiver streams.
/// </summary>
internal sealed record LocalFacts(
    string Member,
    bool DataDirectoryExists,
    int? PostmasterPid,
    string? ClusterState,
    int? Timeline,
    string? CheckpointLsn,
    string? SystemIdentifier,
    bool? WalLogHints,
    bool? DataChecksums,
    bool StandbySignal,
    bool Streaming,
    long HighestTerm,
    string? Busy,
    string? Problem)
{
    public bool Running => PostmasterPid is not null;

    /// <summary>Whether pg_rewind can be used on this data directory (it needs wal_log_hints or data checksums).</summary>
    public bool Rewindable => WalLogHints == true || DataChecksums == true;
}
