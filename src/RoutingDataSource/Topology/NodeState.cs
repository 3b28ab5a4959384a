namespace RoutingDataSource.Topology;

/// <summary>
/// A backend as one <see cref="ClusterSnapshot"/> sees it. Immutable; routing reads it without locks.
/// </summary>
internal sealed class NodeState
{
    public required Backend Backend { get; init; }

    public BackendRole Role { get; init; }

    public BackendState State { get; init; }

    /// <summary>The last probe succeeded (a failing but not yet Down backend is Up with this false).</summary>
    public bool LastProbeOk { get; init; }

    public int ConsecutiveFailures { get; init; }

    public int? Timeline { get; init; }

    /// <summary>The server's <c>pg_control_system().system_identifier</c>, as last seen.</summary>
    public ulong? SystemIdentifier { get; init; }

    public ulong? ReplayLsn { get; init; }

    public long? LagBytes { get; init; }

    public TimeSpan? Lag { get; init; }

    public bool? ReplayPaused { get; init; }

    /// <summary>Standby: <c>sync_state</c> of its <c>pg_stat_replication</c> row on the primary (async, sync, quorum, potential).</summary>
    public string? SyncState { get; init; }

    /// <summary>Standby: <c>pg_stat_wal_receiver.status</c>.</summary>
    public string? WalReceiverStatus { get; init; }

    /// <summary>
    /// Standby with a reachable primary whose <c>pg_stat_replication</c> has no row with this backend's name as
    /// <c>application_name</c>: lag in bytes still comes from the standby's own replay position, lag in time is unknown.
    /// </summary>
    public bool ApplicationNameMismatch { get; init; }

    public DateTimeOffset LastStatusChange { get; init; }

    public string? LastError { get; init; }

    /// <summary>The last probe failed for a reason that does not pass by itself (wrong password, unknown database or host): what to fix.</summary>
    public string? PermanentError { get; init; }

    public string? Reason { get; init; }

    /// <summary>May serve a read (before read-your-writes filtering): up, probe ok, standby within lag limits or a weighted primary.</summary>
    public bool ReadEligible { get; init; }

    public BackendObservation? LastObservation { get; init; }
}
