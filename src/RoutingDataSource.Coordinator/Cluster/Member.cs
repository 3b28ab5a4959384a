using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// One configured server: its identity, its promotion priority and its two small pools (probes, actions). It wraps
/// the data source's <see cref="Topology.Backend"/> so that the shared <see cref="SnapshotBuilder"/> builds the
/// coordinator's view exactly as the data source builds its own.
/// </summary>
internal sealed class Member : IAsyncDisposable
{
    public Member(int index, CoordinatorBackend config, CoordinatorOptions options)
    {
        if (!BackendConnectionString.TryParse(config.ConnectionString, out var csb, out var error))
            throw new ArgumentException($"Backend {config.Name}: {error}", nameof(config));
        Name = config.Name;
        Priority = config.Priority;
        Host = csb.Host!;
        Port = csb.Port;
        ReplicationHost = config.ReplicationHost ?? Host;
        ReplicationPort = config.ReplicationPort ?? Port;
        SlotName = SlotNameFor(Name);

        var probe = new NpgsqlConnectionStringBuilder(BackendConnectionString.ForProbes(csb, options.ProbeTimeout))
        {
            ApplicationName = "routing-coordinator probe",
        };
        // Actions (promote, ALTER SYSTEM, slots) wait longer than probes: pg_promote itself waits up to PromoteTimeout.
        var actions = new NpgsqlConnectionStringBuilder(csb.ConnectionString)
        {
            Pooling = true,
            MinPoolSize = 0,
            MaxPoolSize = 4,
            Timeout = Math.Max(2, (int)Math.Ceiling(options.ProbeTimeout.TotalSeconds * 2)),
            CommandTimeout = (int)Math.Ceiling(options.PromoteTimeout.TotalSeconds) + 10,
            CancellationTimeout = -1,
            ApplicationName = "routing-coordinator",
            TcpKeepAlive = true, // not Npgsql's KeepAlive: see BackendConnectionString.ForProbes
        };
        if (config.Agent is { } agent && options.AgentToken is { } token)
            Agent = new AgentClient(new Uri(agent.EndsWith('/') ? agent : agent + "/"), token);
        Backend = new Backend(index, Name, Host, Port, weight: 0,
            NpgsqlDataSource.Create(actions.ConnectionString), NpgsqlDataSource.Create(probe.ConnectionString));
    }

    public int Index => Backend.Index;

    public string Name { get; }

    public int Priority { get; }

    public string Host { get; }

    public int Port { get; }

    /// <summary>Where standbys stream from when this server is the primary.</summary>
    public string ReplicationHost { get; }

    public int ReplicationPort { get; }

    /// <summary>The physical replication slot this server streams through as a standby.</summary>
    public string SlotName { get; }

    public Backend Backend { get; }

    /// <summary>This server's node agent, or null when it has none.</summary>
    public AgentClient? Agent { get; }

    /// <summary>Statements of the coordinator's actions.</summary>
    public NpgsqlDataSource Pool => Backend.Pool;

    public NpgsqlDataSource ProbePool => Backend.ProbePool;

    /// <summary>Detached: never a candidate, reported as detached; still probed and still repointed.</summary>
    public bool Detached
    {
        get => Backend.Detached;
        set => Backend.Detached = value;
    }

    /// <summary>Whether a WAL sender at <paramref name="host"/>:<paramref name="port"/> (from <c>pg_stat_wal_receiver</c>) is this server.</summary>
    public bool IsAt(string host, int port) =>
        (port == ReplicationPort && string.Equals(host, ReplicationHost, StringComparison.OrdinalIgnoreCase))
        || (port == Port && string.Equals(host, Host, StringComparison.OrdinalIgnoreCase));

    /// <summary>Slot names allow lower-case letters, digits and '_' only.</summary>
    public static string SlotNameFor(string name) =>
        new(name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());

    public override string ToString() => Name;

    public ValueTask DisposeAsync()
    {
        Agent?.Dispose();
        return Backend.DisposeAsync();
    }
}
