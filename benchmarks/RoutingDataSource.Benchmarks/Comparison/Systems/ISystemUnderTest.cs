namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// One way an application can use the cluster, driven by the workload runner: open once, then many concurrent
/// reads and writes, each on a connection opened and closed around it (as an application using a data source does).
/// </summary>
internal interface ISystemUnderTest : IAsyncDisposable
{
    /// <summary>Short stable key used in the results files ("npgsql", "multihost", "pgpool", "routing").</summary>
    string Key { get; }

    /// <summary>What it is, for the results table.</summary>
    string Label { get; }

    /// <summary>Builds pools and runs one read and one write so that type loading and first connections are not measured.</summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>A point select on pgbench_accounts (<see cref="Statements.Read"/>).</summary>
    Task ReadAsync(int aid, CancellationToken cancellationToken);

    /// <summary>An update of one pgbench_accounts row (<see cref="Statements.Write"/>).</summary>
    Task WriteAsync(int aid, int delta, CancellationToken cancellationToken);

    /// <summary>
    /// A tenant's session (<see cref="Workloads.Workload.Tenant"/>): one connection, <c>SET app.tenant_id</c>, then the
    /// statements in order (a write where <c>Delta</c> is not null). Systems that cannot keep one connection's state
    /// across reads and writes do not implement it.
    /// </summary>
    Task TenantSessionAsync(int tenant, IReadOnlyList<(int Aid, int? Delta)> statements, CancellationToken cancellationToken)
        => throw new NotSupportedException($"{Key} runs no tenant sessions.");

    /// <summary>Whether <see cref="TenantSessionAsync"/> is implemented.</summary>
    bool RunsTenantSessions => false;

    /// <summary>
    /// Reads served so far: by standbys, by the first standby (n1) alone, and in total, as this system can tell
    /// (cumulative counters). The first standby's part shows how the system splits reads between the standbys.
    /// </summary>
    Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken);
}

/// <summary>Cumulative read counts; a measurement takes the difference of two.</summary>
internal readonly record struct ReadPlacement(long OnStandbys, long OnFirstStandby, long Total)
{
    public static ReadPlacement operator -(ReadPlacement after, ReadPlacement before) =>
        new(after.OnStandbys - before.OnStandbys, after.OnFirstStandby - before.OnFirstStandby, after.Total - before.Total);
}
