namespace RoutingDataSource;

/// <summary>
/// Every knob of a <see cref="PgRoutingDataSource"/>, with its default. Set them on
/// <see cref="PgRoutingDataSourceBuilder.Options"/> or bind them from configuration; <see cref="PgRoutingDataSourceBuilder.Build"/>
/// validates them once and reports every problem together.
/// </summary>
public sealed class RoutingOptions
{
    /// <summary>How often the topology monitor probes every backend (role, timeline, WAL positions, lag). Default 1 s.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one probe of one backend may take (connect + query) before it counts as a failure. Default 2 s.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Consecutive failed probes after which a backend is marked <see cref="BackendState.Down"/>. Default 3.
    /// A standby whose last probe failed already gets no reads; this threshold decides when it is reported Down and when
    /// a primary stops being the write target.
    /// </summary>
    public int HealthCheckMaxRetries { get; set; } = 3;

    /// <summary>
    /// How long a write waits for a writable primary to exist (during a failover, or before the first probe answers),
    /// and the bound on transparent retries. Default 30 s.
    /// </summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A standby whose replay position is more than this many WAL bytes behind the primary gets no reads until it is
    /// back under. Null disables the byte limit. Default 16 MiB.
    /// </summary>
    public long? MaxReplicationLagBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// A standby whose replay lag (<c>pg_stat_replication.replay_lag</c>) exceeds this gets no reads until it is back
    /// under. Null disables the time limit. Default 10 s.
    /// </summary>
    public TimeSpan? MaxReplicationLag { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Pick the least-lagging eligible standby for each read instead of taking the standbys in turn by weight (weighted round robin). Default false.
    /// </summary>
    public bool PreferLowerLagStandby { get; set; }

    /// <summary>
    /// Whether the current primary serves reads: <see cref="PrimaryReadMode.Never"/>, only when no standby is eligible
    /// (<see cref="PrimaryReadMode.WhenNoStandby"/>, the default), or by its weight (<see cref="PrimaryReadMode.ByWeight"/>).
    /// A backend's weight applies while it is a standby whatever this says, so weights follow the role across a failover.
    /// </summary>
    public PrimaryReadMode PrimaryServesReads { get; set; } = PrimaryReadMode.WhenNoStandby;

    /// <summary>
    /// Which earlier writes a read must see; a standby that has not replayed them does not serve the read.
    /// Default <see cref="ReadYourWritesScope.Connection"/>.
    /// </summary>
    public ReadYourWritesScope ReadYourWrites { get; set; } = ReadYourWritesScope.Connection;

    /// <summary>
    /// How long a read may wait for a standby to replay the writes it must see before it goes to the primary instead.
    /// A read that can carry the read-your-writes guard waits on the standby itself (the guard polls the standby's
    /// replay position every millisecond, in the read's own round trip), and only when the standby's replay-delay
    /// estimate says it will have replayed within this time; other reads poll the standbys from the client.
    /// Default 5 ms: a local standby replays in about a millisecond, so a read right after a write is served by a
    /// standby at the cost of about 1 ms (PostgreSQL's <c>pg_sleep</c> granularity) instead of going to the primary;
    /// never more than this plus the primary's round trip. Zero: never wait, read from the primary at once.
    /// </summary>
    public TimeSpan ReadYourWritesWait { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Functions that may run on a standby even though <c>pg_proc</c> says they are volatile (or they are not found),
    /// e.g. your own <c>VOLATILE</c> function that only reads. Names as written in SQL, case-insensitive, schema optional.
    /// </summary>
    public ISet<string> ReadOnlyFunctions { get; private set; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Functions that always send a statement to the primary, whatever <c>pg_proc</c> says (e.g. a STABLE function that writes through dblink).</summary>
    public ISet<string> WriteFunctions { get; private set; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>How many distinct statement texts the classification cache keeps. Default 4096.</summary>
    public int ClassificationCacheSize { get; set; } = 4096;

    /// <summary>A copy, so a built data source never sees later changes to the builder's options.</summary>
    internal RoutingOptions Clone()
    {
        var clone = (RoutingOptions)MemberwiseClone();
        // MemberwiseClone shares the sets; give the copy its own.
        clone.ReadOnlyFunctions = new HashSet<string>(ReadOnlyFunctions, StringComparer.OrdinalIgnoreCase);
        clone.WriteFunctions = new HashSet<string>(WriteFunctions, StringComparer.OrdinalIgnoreCase);
        return clone;
    }

    internal List<string> Validate()
    {
        var problems = new List<string>();
        if (HealthCheckInterval <= TimeSpan.Zero)
            problems.Add($"{nameof(HealthCheckInterval)} must be positive (was {HealthCheckInterval}).");
        if (HealthCheckTimeout <= TimeSpan.Zero)
            problems.Add($"{nameof(HealthCheckTimeout)} must be positive (was {HealthCheckTimeout}).");
        if (HealthCheckMaxRetries < 1)
            problems.Add($"{nameof(HealthCheckMaxRetries)} must be at least 1 (was {HealthCheckMaxRetries}).");
        if (FailoverTimeout < TimeSpan.Zero)
            problems.Add($"{nameof(FailoverTimeout)} must not be negative (was {FailoverTimeout}).");
        if (MaxReplicationLagBytes < 0)
            problems.Add($"{nameof(MaxReplicationLagBytes)} must not be negative (was {MaxReplicationLagBytes}).");
        if (MaxReplicationLag < TimeSpan.Zero)
            problems.Add($"{nameof(MaxReplicationLag)} must not be negative (was {MaxReplicationLag}).");
        if (ReadYourWritesWait < TimeSpan.Zero)
            problems.Add($"{nameof(ReadYourWritesWait)} must not be negative (was {ReadYourWritesWait}).");
        if (!Enum.IsDefined(ReadYourWrites))
            problems.Add($"{nameof(ReadYourWrites)} has an unknown value ({ReadYourWrites}).");
        if (!Enum.IsDefined(PrimaryServesReads))
            problems.Add($"{nameof(PrimaryServesReads)} has an unknown value ({PrimaryServesReads}).");
        if (ClassificationCacheSize < 0)
            problems.Add($"{nameof(ClassificationCacheSize)} must not be negative (was {ClassificationCacheSize}).");
        foreach (var f in ReadOnlyFunctions)
        {
            if (WriteFunctions.Contains(f))
                problems.Add($"Function '{f}' is listed in both {nameof(ReadOnlyFunctions)} and {nameof(WriteFunctions)}.");
        }
        return problems;
    }
}
