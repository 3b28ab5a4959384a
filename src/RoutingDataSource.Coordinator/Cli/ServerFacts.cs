namespace RoutingDataSource.Coordinator.Cli;

/// <summary>
/// What <c>check --connect</c> learnt from one server with the coordinator's own connection string: whether it let the
/// coordinator in, its role, the coordinator's privileges there and the settings failover relies on.
/// </summary>
internal sealed record ServerFacts(string Name, string Endpoint, string ReplicationEndpoint)
{
    /// <summary>Why the coordinator could not log in or query (null: it could).</summary>
    public string? Error { get; init; }

    public bool InRecovery { get; init; }

    public int VersionNum { get; init; }

    public bool Superuser { get; init; }

    public bool ReplicationAttribute { get; init; }

    public bool Monitor { get; init; }

    public bool ExecutePromote { get; init; }

    public bool ExecuteReload { get; init; }

    /// <summary>Parameters the coordinator sets with <c>ALTER SYSTEM</c> that it may not set here.</summary>
    public IReadOnlyList<string> NoAlterSystem { get; init; } = [];

    public string WalLevel { get; init; } = "";

    public int MaxWalSenders { get; init; }

    public int MaxReplicationSlots { get; init; }

    public string SynchronousStandbyNames { get; init; } = "";

    public int WalReceiverTimeoutMs { get; init; }

    public int WalRetrieveRetryIntervalMs { get; init; }

    /// <summary><c>max_slot_wal_keep_size</c> in MB; -1 unlimited.</summary>
    public long MaxSlotWalKeepSizeMb { get; init; }

    /// <summary>Standby: <c>pg_stat_wal_receiver</c> status, and whom it streams from.</summary>
    public string? ReceiverStatus { get; init; }

    public string? SenderHost { get; init; }

    public int? SenderPort { get; init; }

    /// <summary>Primary: the <c>application_name</c>s of its <c>pg_stat_replication</c>.</summary>
    public IReadOnlyList<string> Streaming { get; init; } = [];

    /// <summary>Why a replication connection made from <c>ReplicationConnInfo</c> to this server failed (null: it worked).</summary>
    public string? ReplicationError { get; init; }

    /// <summary>Whether <c>ReplicationConnInfo</c> holds a password (without one, the standbys may take it from their own <c>.pgpass</c>).</summary>
    public bool ReplicationPasswordGiven { get; init; }
}
