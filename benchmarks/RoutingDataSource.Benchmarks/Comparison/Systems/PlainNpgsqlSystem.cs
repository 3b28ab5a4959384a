using Npgsql;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// A plain <see cref="NpgsqlDataSource"/> on the primary: every statement on one server. The physical limit for a
/// client-side router when all servers share one machine, and the baseline every ratio is taken against.
/// </summary>
internal sealed class PlainNpgsqlSystem(string primaryConnectionString) : ISystemUnderTest
{
    private NpgsqlDataSource? _dataSource;
    private long _reads;

    public string Key => "npgsql";

    public string Label => "Npgsql, primary only";

    private NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("Not opened.");

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        _dataSource = NpgsqlDataSource.Create(primaryConnectionString);
        await ReadAsync(1, cancellationToken);
        await WriteAsync(1, 0, cancellationToken);
    }

    public async Task ReadAsync(int aid, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await Statements.ReadAsync(conn, aid, cancellationToken);
        Interlocked.Increment(ref _reads);
    }

    public async Task WriteAsync(int aid, int delta, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await Statements.WriteAsync(conn, aid, delta, cancellationToken);
    }

    public bool RunsTenantSessions => true;

    public async Task TenantSessionAsync(int tenant, IReadOnlyList<(int Aid, int? Delta)> statements, CancellationToken cancellationToken)
    {
        await using var conn = await DataSource.OpenConnectionAsync(cancellationToken);
        await Statements.TenantSessionAsync(conn, tenant, statements, cancellationToken);
        Interlocked.Add(ref _reads, statements.Count(s => s.Delta is null));
    }

    public Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new ReadPlacement(0, 0, Interlocked.Read(ref _reads)));

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
    }
}
