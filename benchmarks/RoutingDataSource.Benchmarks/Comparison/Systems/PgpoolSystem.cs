using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// Pgpool-II in front of the cluster: the application uses one plain <see cref="NpgsqlDataSource"/> on pgpool's port
/// and pgpool routes each statement. Where reads ran comes from pgpool's own counters (SHOW POOL_NODES select_cnt).
/// </summary>
/// <remarks>
/// The one client setting that differs from the other systems, in pgpool's favour: <c>No Reset On Close</c>. With
/// Npgsql's default, every reuse of a pooled connection starts with <c>DISCARD ALL</c>, which pgpool forwards to all
/// three servers one after the other (three extra round trips per statement); a pgpool user would turn it off, and the
/// benchmark's statements leave no session state behind.
/// </remarks>
internal sealed class PgpoolSystem(PgpoolInstance pgpool, string database, int firstStandbyPort) : ISystemUnderTest
{
    private NpgsqlDataSource? _dataSource;

    public string Key => "pgpool";

    public string Label => "Pgpool-II 4.3 (statement-level load balancing, weights as ours; client with No Reset On Close)";

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        _dataSource = NpgsqlDataSource.Create(pgpool.ConnectionString(database, b =>
        {
            b.NoResetOnClose = true;
            b.ApplicationName = "bench-pgpool";
        }));
        await ReadAsync(1, cancellationToken);
        await WriteAsync(1, 0, cancellationToken);
    }

    public async Task ReadAsync(int aid, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource!.OpenConnectionAsync(cancellationToken);
        await Statements.ReadAsync(conn, aid, cancellationToken);
    }

    public async Task WriteAsync(int aid, int delta, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource!.OpenConnectionAsync(cancellationToken);
        await Statements.WriteAsync(conn, aid, delta, cancellationToken);
    }

    public bool RunsTenantSessions => true;

    public async Task TenantSessionAsync(int tenant, IReadOnlyList<(int Aid, int? Delta)> statements, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource!.OpenConnectionAsync(cancellationToken);
        await Statements.TenantSessionAsync(conn, tenant, statements, cancellationToken);
        // No Reset On Close (see the remarks): the tenant's SET must not reach the next user of pgpool's connection.
        await using var reset = new NpgsqlCommand("RESET app.tenant_id", conn);
        await reset.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken)
    {
        var nodes = await pgpool.ShowPoolNodesAsync(cancellationToken);
        return new ReadPlacement(nodes.Where(n => n.Role == "standby").Sum(n => n.SelectCount), nodes.Where(n => n.Port == firstStandbyPort).Sum(n => n.SelectCount),
            nodes.Sum(n => n.SelectCount));
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
    }
}
