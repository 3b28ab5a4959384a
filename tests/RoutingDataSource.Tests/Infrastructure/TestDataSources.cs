using System.Data.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Infrastructure;

internal static class TestDataSources
{
    /// <summary>
    /// Builds a data source over <paramref name="cluster"/> with fast health checks and waits until it has seen the
    /// cluster and loaded function volatility, so routing in the test is deterministic from the first statement.
    /// </summary>
    public static async Task<PgRoutingDataSource> CreateAsync(LocalPgCluster cluster, Action<PgRoutingDataSourceBuilder>? configure = null, int primaryWeight = 0)
    {
        var ds = Build(cluster, configure, primaryWeight);
        await WarmUpAsync(ds);
        return ds;
    }

    /// <summary>The same data source, not warmed up: it has not seen the cluster nor loaded function volatility yet.</summary>
    public static PgRoutingDataSource Build(LocalPgCluster cluster, Action<PgRoutingDataSourceBuilder>? configure = null, int primaryWeight = 0)
    {
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, cluster.Primary) ? primaryWeight : 1);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(250);
        b.Options.HealthCheckTimeout = TimeSpan.FromSeconds(2);
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(10);
        configure?.Invoke(b);
        return b.Build();
    }

    public static async Task WarmUpAsync(PgRoutingDataSource ds)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await ds.RefreshStatusAsync(cts.Token);
        await ds.Volatility.WaitForPreloadAsync(TimeSpan.FromSeconds(10), cts.Token);
        await ds.Unlogged.Loaded.WaitAsync(cts.Token);
    }

    /// <summary>The port of the server that ran the statement (inet_server_port() is a stable built-in: a read).</summary>
    public static async Task<int> ServerPortAsync(DbConnection conn, DbTransaction? tx = null)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT inet_server_port()";
        cmd.Transaction = tx;
        return Convert.ToInt32(await cmd.ExecuteScalarAsync());
    }

    public static async Task<object?> ScalarAsync(DbConnection conn, string sql)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return await cmd.ExecuteScalarAsync();
    }

    /// <summary>The first row of a read, every column as an object (DBNull as null).</summary>
    public static async Task<object?[]> RowAsync(DbConnection conn, string sql)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        var row = new object?[r.FieldCount];
        for (var i = 0; i < row.Length; i++)
            row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
        return row;
    }

    public static async Task<int> NonQueryAsync(DbConnection conn, string sql)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return await cmd.ExecuteNonQueryAsync();
    }

    public static BackendStatus Backend(this PgRoutingDataSource ds, string name) => ds.GetStatus()[name]!;
}
