namespace RoutingDataSource.Topology;

/// <summary>What one probe of one server saw (or the error it got). Immutable; produced by <see cref="BackendProbe"/>.</summary>
internal sealed class BackendObservation
{
    public static BackendObservation Failed(string error, DateTimeOffset at, string? permanentError = null)
        => new() { Reachable = false, Error = error, At = at, PermanentError = permanentError };

    /// <summary>Set when the failure will not pass by itself (<see cref="PermanentConnectionError"/>): what to fix.</summary>
    public string? PermanentError { get; init; }

    /// <summary>
    /// No news yet: the probe of this server is still running while the others have answered. The snapshot keeps the
    /// server as the previous one saw it (see <see cref="TopologyMonitor"/>).
    /// </summary>
    public static BackendObservation Pending { get; } = new() { Reachable = false, IsPending = true, Error = "health check still running" };

    /// <summary>See <see cref="Pending"/>.</summary>
    public bool IsPending { get; init; }

    public bool Reachable { get; init; }

    public DateTimeOffset At { get; init; }

    public string? Error { get; init; }

    public bool InRecovery { get; init; }

    public int? Timeline { get; init; }

    /// <summary>Primary: <c>pg_current_wal_lsn()</c>. Standby: <c>pg_last_wal_receive_lsn()</c>.</summary>
    public ulong? CurrentLsn { get; init; }

    /// <summary>
    /// Primary only: <c>pg_current_wal_insert_lsn()</c>, which is at or past the commit record of every transaction
    /// acknowledged before the probe started, even with <c>synchronous_commit = off</c>. Read-your-writes uses it.
    /// </summary>
    public ulong? InsertLsn { get; init; }

    /// <summary>Standby: <c>pg_last_wal_replay_lsn()</c>. Primary: same as <see cref="CurrentLsn"/>.</summary>
    public ulong? ReplayLsn { get; init; }

    public bool? ReplayPaused { get; init; }

    /// <summary>Standby: <c>pg_stat_wal_receiver.status</c> (streaming, waiting...), null when no receiver runs.</summary>
    public string? WalReceiverStatus { get; init; }

    public int ServerVersionNum { get; init; }

    /// <summary>
    /// <c>pg_control_system().system_identifier</c>: the same on a primary and every standby made from it, different
    /// on a server initialised on its own (a standby that diverged from another cluster).
    /// </summary>
    public ulong? SystemIdentifier { get; init; }

    /// <summary>Primary only: its <c>pg_stat_replication</c> rows.</summary>
    public IReadOnlyList<ReplicationRow> Replication { get; init; } = [];
}

/// <summary>One row of the primary's <c>pg_stat_replication</c>.</summary>
internal sealed record ReplicationRow(
    string ApplicationName,
    string? State,
    string? SyncState,
    ulong? SentLsn,
    ulong? WriteLsn,
    ulong? FlushLsn,
    ulong? ReplayLsn,
    TimeSpan? WriteLag,
    TimeSpan? FlushLag,
    TimeSpan? ReplayLag);
