namespace RoutingDataSource.Coordinator.Agent;

/// <summary>
/// The node agent's settings: the <c>Local</c> section of its configuration file (<c>routing-coordinator agent
/// --config agent.json</c>). The agent runs as the server's OS user, beside its one server, and acts on nothing else.
/// </summary>
internal sealed class AgentOptions
{
    public const string SectionName = "Local";

    /// <summary>The member name of this server in the coordinator's <c>Backends</c>: its application_name and slot name as a standby.</summary>
    public string Name { get; set; } = "";

    /// <summary>The server's data directory (what <c>pg_ctl -D</c> takes).</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>The directory of <c>pg_ctl</c>, <c>pg_controldata</c>, <c>pg_rewind</c>, <c>pg_basebackup</c>.</summary>
    public string BinDirectory { get; set; } = "";

    /// <summary>The server log <c>pg_ctl start -l</c> appends to. Default: the data directory's path + <c>.log</c>.</summary>
    public string? ServerLog { get; set; }

    /// <summary>The agent's HTTP listen address, <c>host:port</c> on loopback only. Default <c>127.0.0.1:8010</c>.</summary>
    public string Listen { get; set; } = "127.0.0.1:8010";

    /// <summary>
    /// A file holding the bearer token every request must carry, readable by the agent's OS user only (mode 0600 or
    /// 0400, as libpq insists for a passfile). Alternatively the token comes from <c>ROUTING_AGENT_TOKEN</c>.
    /// </summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// The libpq connection string this server streams with as a standby, with <c>{host}</c>, <c>{port}</c> (the
    /// primary's, from the order) and <c>{name}</c> (this member's name, its application_name), e.g.
    /// <c>host={host} port={port} user=replicator application_name={name}</c>. Passwords belong in the OS user's
    /// passfile (<c>~/.pgpass</c> or <c>passfile=</c>), never here.
    /// </summary>
    public string? ReplicationConnInfo { get; set; }

    /// <summary>
    /// The libpq connection string <c>pg_rewind --source-server</c> reads the primary with (a superuser, or a role
    /// with EXECUTE on <c>pg_ls_dir</c>, <c>pg_stat_file</c>, <c>pg_read_binary_file</c>), same placeholders.
    /// Default: <see cref="ReplicationConnInfo"/> with <c>dbname=postgres</c>.
    /// </summary>
    public string? RewindConnInfo { get; set; }

    /// <summary>The file the highest fencing token seen is kept in (survives restarts). Default: the data directory's path + <c>.agent-term</c>.</summary>
    public string? TermFile { get; set; }

    /// <summary>How long one order may run (a base backup of a large server takes long). Default 10 min.</summary>
    public TimeSpan OrderTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a restarted standby may take to stream before the step counts as failed. Default 30 s.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public string ServerLogPath => ServerLog ?? DataDirectory.TrimEnd('/') + ".log";

    public string TermFilePath => TermFile ?? DataDirectory.TrimEnd('/') + ".agent-term";
}
