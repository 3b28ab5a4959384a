namespace RoutingDataSource;

/// <summary>
/// One row of <see cref="ClusterStatus"/>: what the data source knows about a backend and what it sent there.
/// Contains no credentials.
/// </summary>
public sealed class BackendStatus
{
    internal BackendStatus(string name, string host, int port)
    {
        Name = name;
        Host = host;
        Port = port;
    }

    /// <summary>The backend's configured name.</summary>
    public string Name { get; }

    /// <summary>Host name or address.</summary>
    public string Host { get; }

    /// <summary>TCP port.</summary>
    public int Port { get; }

    /// <summary>Role from the last successful probe.</summary>
    public BackendRole Role { get; internal init; }

    /// <summary>Whether the backend takes traffic.</summary>
    public BackendState State { get; internal init; }

    /// <summary>Load-balancing weight for reads while this backend is a standby (0: never serves reads by weight); see <see cref="RoutingOptions.PrimaryServesReads"/>.</summary>
    public int Weight { get; internal init; }

    /// <summary>Statements classified as reads that the data source sent to this backend.</summary>
    public long ReadCount { get; internal init; }

    /// <summary>Statements classified as writes, session state or transaction control that the data source sent to this backend.</summary>
    public long WriteCount { get; internal init; }

    /// <summary>Statements re-run on the primary after this backend answered SQLSTATE 25006 (read-only transaction).</summary>
    public long RerouteCount { get; internal init; }

    /// <summary>
    /// Reads that must see earlier writes, tried on this standby behind a read-your-writes guard, that found it had
    /// replayed them and ran here (README, "Replication lag and read-your-writes").
    /// </summary>
    public long GuardHits { get; internal init; }

    /// <summary>Guarded reads that found this standby behind: nothing ran here, the primary served them.</summary>
    public long GuardMisses { get; internal init; }

    /// <summary>
    /// For a standby: the data source's estimate of how long it takes to replay a write, learnt from guarded reads and
    /// probes. A read that must see a younger write goes to the primary (or waits, see <see cref="RoutingOptions.ReadYourWritesWait"/>).
    /// </summary>
    public TimeSpan ReplayDelayEstimate { get; internal init; }

    /// <summary>Operations retried after a failure on this backend.</summary>
    public long RetryCount { get; internal init; }

    /// <summary>For a standby: WAL bytes between the primary's current position and this standby's replay position. Null when unknown.</summary>
    public long? LagBytes { get; internal init; }

    /// <summary>For a standby: replay lag in time (0 when idle and fully replayed). Null when unknown.</summary>
    public TimeSpan? Lag { get; internal init; }

    /// <summary>For a standby: whether WAL replay is paused (<c>pg_wal_replay_pause()</c>). Null when unknown or not a standby.</summary>
    public bool? ReplayPaused { get; internal init; }

    /// <summary>For a standby: its <c>sync_state</c> on the primary (async, sync, quorum, potential). Null when unknown.</summary>
    public string? SyncState { get; internal init; }

    /// <summary>For a standby: its WAL receiver's status (streaming, waiting, ...). Null when no receiver runs.</summary>
    public string? WalReceiverStatus { get; internal init; }

    /// <summary>The timeline the server is on. Null when unknown.</summary>
    public int? Timeline { get; internal init; }

    /// <summary>When <see cref="Role"/> or <see cref="State"/> last changed.</summary>
    public DateTimeOffset LastStatusChange { get; internal init; }

    /// <summary>
    /// Whether this backend takes reads by its weight right now: an eligible standby (up, within the lag limits) of
    /// weight &gt; 0, or the primary with <see cref="RoutingOptions.PrimaryServesReads"/> = <see cref="PrimaryReadMode.ByWeight"/>.
    /// The primary also serves the reads no standby can take, unless that option is <see cref="PrimaryReadMode.Never"/>.
    /// </summary>
    public bool ServesReads { get; internal init; }

    /// <summary>Why the backend is in its state, when that is not obvious (e.g. "timeline 1 lower than 2: fenced"). Null when nothing to say.</summary>
    public string? Reason { get; internal init; }

    /// <summary>The last error seen while probing it (message only, no credentials). Null after a successful probe.</summary>
    public string? LastError { get; internal init; }
}
