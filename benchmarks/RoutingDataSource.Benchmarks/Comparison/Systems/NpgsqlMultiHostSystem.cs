using Npgsql;

namespace RoutingDataSource.Benchmarks.Comparison.Systems;

/// <summary>
/// The best an application can do with Npgsql alone: one multi-host data source over all servers with
/// <c>Load Balance Hosts=true</c>, reads through its <c>PreferStandby</c> view and writes through its <c>Primary</c> view.
/// The application has to pick the view per statement itself. Where each read ran is read from the opened connection's
/// port, which Npgsql sets to the host it actually connected to, so the standby share is exact.
/// </summary>
/// <remarks>
/// Npgsql's round robin counts every host, and a host of the wrong type passes its turn to the next one: over
/// primary, n1, n2 the primary's turn goes to n1, so n1 serves two reads in three (measured: exactly 2 : 1).
/// </remarks>
internal sealed class NpgsqlMultiHostSystem(string multiHostConnectionString, int primaryPort, int firstStandbyPort) : ISystemUnderTest
{
    private NpgsqlMultiHostDataSource? _dataSource;
    private NpgsqlDataSource? _reads;
    private NpgsqlDataSource? _writes;
    private long _readCount;
    private long _standbyReadCount;
    private long _firstStandbyReadCount;

    public string Key => "multihost";

    public string Label => "Npgsql multi-host (LoadBalanceHosts, PreferStandby/Primary)";

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var csb = new NpgsqlConnectionStringBuilder(multiHostConnectionString) { LoadBalanceHosts = true };
        _dataSource = new NpgsqlDataSourceBuilder(csb.ConnectionString).BuildMultiHost();
        _reads = _dataSource.WithTargetSession(TargetSessionAttributes.PreferStandby);
        _writes = _dataSource.WithTargetSession(TargetSessionAttributes.Primary);
        await ReadAsync(1, cancellationToken);
        await WriteAsync(1, 0, cancellationToken);
    }

    public async Task ReadAsync(int aid, CancellationToken cancellationToken)
    {
        await using var conn = await _reads!.OpenConnectionAsync(cancellationToken);
        await Statements.ReadAsync(conn, aid, cancellationToken);
        Interlocked.Increment(ref _readCount);
        if (conn.Port != primaryPort)
            Interlocked.Increment(ref _standbyReadCount);
        if (conn.Port == firstStandbyPort)
            Interlocked.Increment(ref _firstStandbyReadCount);
    }

    public async Task WriteAsync(int aid, int delta, CancellationToken cancellationToken)
    {
        await using var conn = await _writes!.OpenConnectionAsync(cancellationToken);
        await Statements.WriteAsync(conn, aid, delta, cancellationToken);
    }

    public Task<ReadPlacement> ReadPlacementAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new ReadPlacement(Interlocked.Read(ref _standbyReadCount), Interlocked.Read(ref _firstStandbyReadCount), Interlocked.Read(ref _readCount)));

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
    }
}
