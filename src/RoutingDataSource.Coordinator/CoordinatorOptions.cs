namespace RoutingDataSource.Coordinator;

/// <summary>
/// The coordinator's settings: the <c>Coordinator</c> section of <c>coordinator.json</c>, or built in code for
/// <see cref="CoordinatorHost.StartAsync(CoordinatorOptions, Microsoft.Extensions.Logging.ILoggerFactory?, CancellationToken)"/>. Checked once at start; every problem is reported together.
/// </summary>
public sealed class CoordinatorOptions
{
    /// <summary>The configuration section the settings live in.</summary>
    public const string SectionName = "Coordinator";

    /// <summary>
    /// This coordinator's name, unique among the coordinators of a cluster: letters, digits, '_', '-' and '.'.
    /// Default: the host name.
    /// </summary>
    public string Name { get; set; } = System.Net.Dns.GetHostName();

    /// <summary>
    /// Leader election and durable state in etcd, for several coordinators with one leader. Null (the default): this
    /// coordinator runs alone and is the cluster's single point of decision.
    /// </summary>
    public CoordinatorEtcdOptions? Etcd { get; set; }

    /// <summary>The servers of the cluster, in any role. At least two, at least one with <see cref="CoordinatorBackend.Priority"/> &gt; 0.</summary>
    public IList<CoordinatorBackend> Backends { get; } = [];

    /// <summary>
    /// The libpq connection string a standby uses to stream from a new primary, with placeholders <c>{host}</c> and
    /// <c>{port}</c> (the new primary's) and <c>{name}</c> (the standby's name, used as its <c>application_name</c>),
    /// e.g. <c>host={host} port={port} user=replicator application_name={name}</c>.
    /// </summary>
    public string? ReplicationConnInfo { get; set; }

    /// <summary>How often every backend is probed. Default 1 s.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one probe may take before it counts as a failure. Default 1 s.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive failed probes after which the primary is suspected dead (the standbys still get a say). Default 3.</summary>
    public int FailureThreshold { get; set; } = 3;

    /// <summary>
    /// The probe period while the primary is failing (Pgpool's <c>health_check_retry_delay</c>): the failures that
    /// confirm a suspicion come this far apart, start to start. Default 0.5 s; at most <see cref="ProbeInterval"/>.
    /// </summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The HTTP API's listen address, <c>host:port</c>. Default <c>127.0.0.1:8008</c>; port 0 picks a free one.</summary>
    public string Http { get; set; } = "127.0.0.1:8008";

    /// <summary>
    /// When set, the mutating endpoints (failover, detach, attach) require <c>Authorization: Bearer</c> with it.
    /// Required on a non-loopback <see cref="Http"/>, and to be set anywhere but a single-user laptop: without it any
    /// local process can trigger a failover.
    /// </summary>
    public string? ApiToken { get; set; }

    /// <summary>
    /// With synchronous replication configured on the old primary, promote a standby that may miss acknowledged
    /// commits when no synchronous one is safe. Default false: rather no primary than lost commits.
    /// </summary>
    public bool AllowDataLoss { get; set; }

    /// <summary>How long the chosen standby may take to replay what it has received before it is promoted anyway. Default 5 s.</summary>
    public TimeSpan CatchUpTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait passed to <c>pg_promote(true, seconds)</c>. Default 10 s.</summary>
    public TimeSpan PromoteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a repointed standby may take to stream from the new primary before it is reported as not following. Default 15 s.</summary>
    public TimeSpan FollowTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a follower may go without streaming from the primary before the coordinator drops the replication slot
    /// it made for it there (a slot nobody reads holds WAL on the primary without bound; see also PostgreSQL's
    /// <c>max_slot_wal_keep_size</c>). The slot is made again when the follower is repointed. Default 10 min.
    /// </summary>
    public TimeSpan UnusedSlotTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Commands run after a failover and when an old primary is fenced.</summary>
    public CoordinatorHooks Hooks { get; } = new();

    /// <summary>
    /// The bearer token of the node agents (<see cref="CoordinatorBackend.Agent"/>): the same secret every agent is
    /// started with (<c>ROUTING_AGENT_TOKEN</c> or its <c>TokenFile</c>). Required when any backend has an agent.
    /// </summary>
    public string? AgentToken { get; set; }

    /// <summary>
    /// How a member with an agent comes back when it must follow a new primary but cannot as it is (an old primary,
    /// a standby on a diverged timeline). Default <see cref="RejoinPolicy.RewindOrRebuild"/>.
    /// </summary>
    public RejoinPolicy Rejoin { get; set; } = RejoinPolicy.RewindOrRebuild;

    /// <summary>
    /// A stopped member whose agent finds no data directory (lost disk, deleted) is rebuilt from the primary by itself,
    /// as <c>routing-coordinator recover</c> would. Default false: an operator decides.
    /// </summary>
    public bool AutoRebuild { get; set; }

    /// <summary>
    /// A switchover is refused, with nothing changed, when the candidate has received this many bytes less WAL than
    /// the primary has written (it would keep writes unavailable while it catches up). Default 16 MiB.
    /// </summary>
    public long SwitchoverMaxLagBytes { get; set; } = 16L << 20;

    /// <summary>
    /// The member that should be the primary whenever it safely can (failback, as Pgpool's <c>failback.sh</c> does by
    /// hand): once it has streamed as a synchronous standby for 10 s in a row, the leader switches over to it (a
    /// planned switchover: the current primary needs an agent), at most once a minute. Null (the default): the primary
    /// stays where the last failover put it.
    /// </summary>
    public string? PreferredPrimary { get; set; }
}

/// <summary>How an old primary (or a diverged standby) is brought back as a standby of the current primary.</summary>
public enum RejoinPolicy
{
    /// <summary>Its agent runs <c>pg_rewind</c>, and a fresh <c>pg_basebackup</c> when rewinding cannot be used or fails (config: <c>rewind-or-rebuild</c>).</summary>
    RewindOrRebuild,

    /// <summary>Its agent runs <c>pg_rewind</c> only; when that fails the member stays out until an operator acts (config: <c>rewind</c>).</summary>
    Rewind,

    /// <summary>Nothing automatic: the coordinator reports it and an operator rejoins it (config: <c>manual</c>).</summary>
    Manual,
}

/// <summary>One server of the cluster as the coordinator knows it.</summary>
public sealed class CoordinatorBackend
{
    /// <summary>
    /// Unique name: letters, digits, '_', '-' and '.', not starting with '-'. It is the standby's <c>application_name</c> (as in
    /// <c>synchronous_standby_names</c> and <c>pg_stat_replication</c>) and, lower-cased, its replication slot name.
    /// </summary>
    public string Name { get; set; } = "";

    /// <summary>Npgsql connection string of one server for the coordinator's role (see the README for its least privileges).</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Promotion preference among equally advanced standbys, higher first; 0 = never promote. Default 1.</summary>
    public int Priority { get; set; } = 1;

    /// <summary>The host standbys stream from when this server is the primary; default: the connection string's host.</summary>
    public string? ReplicationHost { get; set; }

    /// <summary>The port standbys stream from when this server is the primary; default: the connection string's port.</summary>
    public int? ReplicationPort { get; set; }

    /// <summary>
    /// The base address of this server's node agent (<c>routing-coordinator agent</c>), e.g.
    /// <c>http://127.0.0.1:8010</c>; null: no agent, nothing is done to this server beyond SQL.
    /// </summary>
    public string? Agent { get; set; }
}

/// <summary>
/// Hook commands. Each is a program and its arguments (split like a shell would, but run without one), with
/// placeholders <c>{old_primary}</c> <c>{old_host}</c> <c>{old_port}</c> <c>{new_primary}</c> <c>{new_host}</c>
/// <c>{new_port}</c> <c>{timeline}</c>; the same values are in the environment as <c>RDS_OLD_PRIMARY</c>, ...
/// A hook starts with a cleared environment: only those values and <c>PATH</c>, <c>HOME</c>, <c>LANG</c>,
/// <c>LC_ALL</c>, <c>TZ</c> and <c>TMPDIR</c> of the coordinator's own (never its API token or connection strings).
/// A hook that fails or times out is logged and never holds up a failover.
/// </summary>
public sealed class CoordinatorHooks
{
    /// <summary>Run after a promotion (the old primary is the one that failed or was switched over from).</summary>
    public string? OnFailover { get; set; }

    /// <summary>Run when an old primary answers again as a primary on a lower timeline (old = the fenced server).</summary>
    public string? OnFence { get; set; }

    /// <summary>How long a hook may run before it is killed. Default 30 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
