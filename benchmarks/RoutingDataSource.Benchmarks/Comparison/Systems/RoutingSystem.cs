using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// <see cref="PgRoutingDataSource"/> over the three servers, primary weight 0 and standbys weight 1 (the same as
/// Pgpool-II's backend_weight here), default options otherwise. The application sends every statement through one
/// data source; the library decides where it runs. Where reads ran comes from <see cref="PgRoutingDataSource.GetStatus"/>.
/// With <paramref name="primaryOnly"/> it has the primary as its only backend (weight 1, so it serves the reads too):
/// every statement still goes through classification, routing and the health monitor, but on the same one server as
/// plain Npgsql, which isolates the library's own overhead from where the reads run.
/// </summary>
internal sealed class RoutingSystem(LocalPgCluster cluster, Func<LocalPgNode, string> connectionString, bool primaryOnly = false) : ISystemUnderTest
{
    private PgRoutingDataSource? _dataSource;

    public string Key => primaryOnly ? "routing1" : "routing";

    public string Label => primaryOnly ? "RoutingDataSource with the primary as its only backend (same server as plain Npgsql)" : "RoutingDataSource";

    public PgRoutingDataSource DataSource => _dataSource ?? throw new InvalidOperationException("Not opened.");

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var builder = new PgRoutingDataSourceBuilder();
        if (primaryOnly)
        {
            builder.AddBackend(cluster.Primary.Name, connectionString(cluster.Primary), weight: 1);
        }
        else
        {
            foreach (var node in cluster.Nodes)
                builder.AddBackend(node.Name, connectionString(node), weight: ReferenceEquals(node, cluster.Primary) ? 0 : 1);
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

    public Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken)
    {
        var status = DataSource.GetStatus();
        var standby = status.Backends.Where(b => b.Role == BackendRole.Standby).Sum(b => b.ReadCount);
        return Task.FromResult(new ReadPlacement(standby, status.Backends.Sum(b => b.ReadCount)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
    }
}
