using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// <see cref="PgRoutingDataSource"/> over the three servers, primary weight 0 and standbys weight 1 (the same as
/// Pgpool-II's backend_weight here), default options otherwise. The application sends every statement through one
/// data source; the library decides where it runs. Where reads ran comes from <see cref="PgRoutingDataSource.GetStatus"/>.
/// The other layouts (<see cref="RoutingLayout"/>) isolate one difference each from the systems it is compared with.
/// </summary>
internal sealed class RoutingSystem(LocalPgCluster cluster, Func<LocalPgNode, string> connectionString, RoutingLayout layout = RoutingLayout.Standbys) : ISystemUnderTest
{
    private PgRoutingDataSource? _dataSource;

    public string Key => layout switch
    {
        RoutingLayout.PrimaryOnly => "routing1",
        RoutingLayout.StandbysTwoToOne => "routing21",
        _ => "routing",
    };

    public string Label => layout switch
    {
        RoutingLayout.PrimaryOnly => "RoutingDataSource with the primary as its only backend (same server as plain Npgsql)",
        RoutingLayout.StandbysTwoToOne => "RoutingDataSource with standby weights 2 : 1 (the split Npgsql multi-host's round robin makes; read-only workload only)",
        _ => "RoutingDataSource",
    };

    private string FirstStandby => cluster.Standbys[0].Name;

    public PgRoutingDataSource DataSource => _dataSource ?? throw new InvalidOperationException("Not opened.");

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var builder = new PgRoutingDataSourceBuilder();
        if (layout == RoutingLayout.PrimaryOnly)
        {
            builder.AddBackend(cluster.Primary.Name, connectionString(cluster.Primary), weight: 1);
        }
        else
        {
            foreach (var node in cluster.Nodes)
            {
                var weight = ReferenceEquals(node, cluster.Primary) ? 0
                    : layout == RoutingLayout.StandbysTwoToOne && node.Name == FirstStandby ? 2
                    : 1;
                builder.AddBackend(node.Name, connectionString(node), weight);
            }
        }

        _dataSource = builder.Build();
        await _dataSource.RefreshStatusAsync(cancellationToken);
        await ReadAsync(1, cancellationToken);
        await WriteAsync(1, 0, cancellationToken);
    }

    public async Task ReadAsync(int aid, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = Statements.Read;
        Statements.BindRead(cmd.Parameters, aid);
        await cmd.ExecuteScalarAsync(cancellationToken);
    }

    public async Task WriteAsync(int aid, int delta, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = Statements.Write;
        Statements.BindWrite(cmd.Parameters, aid, delta);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public bool RunsTenantSessions => layout != RoutingLayout.StandbysTwoToOne;

    public async Task TenantSessionAsync(int tenant, IReadOnlyList<(int Aid, int? Delta)> statements, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await Statements.TenantSessionAsync(conn, tenant, statements, cancellationToken);
    }

    public Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken)
    {
        var status = DataSource.GetStatus();
        var standby = status.Backends.Where(b => b.Role == BackendRole.Standby).Sum(b => b.ReadCount);
        var first = status.Backends.Where(b => b.Role == BackendRole.Standby && b.Name == FirstStandby).Sum(b => b.ReadCount);
        return Task.FromResult(new ReadPlacement(standby, first, status.Backends.Sum(b => b.ReadCount)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
    }
}

/// <summary>Which servers a <see cref="RoutingSystem"/> uses, and with which weights.</summary>
internal enum RoutingLayout
{
    /// <summary>Primary weight 0, both standbys weight 1: the configuration every comparison is about.</summary>
    Standbys,

    /// <summary>
    /// The primary as the only backend: every statement still goes through classification, routing and the health
    /// monitor, but on the same one server as plain Npgsql, which isolates the library's own overhead.
    /// </summary>
    PrimaryOnly,

    /// <summary>
    /// Standby weights 2 : 1, the split Npgsql multi-host's round robin ends up with: compares the two with the reads
    /// placed alike, which matters when all servers share the client's cores.
    /// </summary>
    StandbysTwoToOne,
}
