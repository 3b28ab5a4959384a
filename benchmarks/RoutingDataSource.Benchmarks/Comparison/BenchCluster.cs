using System.Diagnostics;
using System.Globalization;
using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison;

/// <summary>
/// The one local 1+2 cluster every system is measured against, with a pgbench data set loaded by the installed
/// <c>pgbench -i</c> and replicated to both standbys.
/// </summary>
internal static class BenchCluster
{
    /// <summary>
    /// The database every system uses. Not "postgres": Pgpool-II never caches backend connections to the postgres,
    /// template and regression databases, and its connection cache is part of what is compared.
    /// </summary>
    public const string Database = "bench";

    /// <summary>Server settings beyond LocalPgCluster's: room for four systems' pools at once, and the data set in shared buffers.</summary>
    public static readonly string[] Settings =
    [
        "max_connections = 300",
        "shared_buffers = 256MB",
    ];

    /// <summary>Starts a 1+2 cluster with <see cref="Settings"/> (and <paramref name="extra"/>).</summary>
    public static Task<LocalPgCluster> StartAsync(string prefix, CancellationToken cancellationToken, params string[] extra)
    {
        var options = new LocalPgClusterOptions { Standbys = 2, NamePrefix = prefix, StartTimeout = TimeSpan.FromSeconds(120), OperationTimeout = TimeSpan.FromSeconds(60) };
        foreach (var line in Settings.Concat(extra))
            options.ExtraSettings.Add(line);
        return LocalPgCluster.StartAsync(options, cancellationToken);
    }

    /// <summary>
    /// <c>pgbench -i -s <paramref name="scale"/></c> against the primary, then waits until both standbys replayed it and
    /// reads the tables into every server's shared buffers (pg_prewarm when the contrib module is there).
    /// </summary>
    public static async Task<TimeSpan> LoadPgbenchAsync(LocalPgCluster cluster, PgTools tools, int scale, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var primary = cluster.Primary;
        await primary.ExecuteAsync($"CREATE DATABASE {Database}", cancellationToken);
        string[] args =
        [
            "-i", "-q", "-s", scale.ToString(CultureInfo.InvariantCulture),
            "-h", primary.Host, "-p", primary.Port.ToString(CultureInfo.InvariantCulture), "-U", cluster.Username, Database,
        ];
        var result = await ExternalProcess.RunAsync(tools.Pgbench, args, TimeSpan.FromMinutes(5), cancellationToken);
        if (!result.Succeeded)
            throw new InvalidOperationException($"pgbench -i failed ({result.ExitCode}):\n{result.Output}");
        await cluster.WaitForReplicationAsync(TimeSpan.FromMinutes(3), cancellationToken);
        try
        {
            await Sql(primary, "CREATE EXTENSION IF NOT EXISTS pg_prewarm", cancellationToken);
        }
        catch (PostgresException)
        {
            return clock.Elapsed; // no contrib modules: the warm-up of every measurement reads the pages in instead
        }

        await cluster.WaitForReplicationAsync(TimeSpan.FromMinutes(1), cancellationToken);
        foreach (var node in cluster.Nodes)
            await Sql(node, "SELECT pg_prewarm('pgbench_accounts'), pg_prewarm('pgbench_accounts_pkey')", cancellationToken);
        return clock.Elapsed;
    }

    /// <summary>
    /// A connection string for <see cref="Database"/> on <paramref name="node"/>, named <paramref name="applicationName"/>
    /// so that server-side views tell the systems apart.
    /// </summary>
    public static string ConnectionString(LocalPgNode node, string applicationName) =>
        node.ConnectionStringWith(b =>
        {
            b.Database = Database;
            b.ApplicationName = applicationName;
        });

    /// <summary>The same for all nodes as one Npgsql multi-host connection string.</summary>
    public static string MultiHostConnectionString(LocalPgCluster cluster, string applicationName) =>
        new NpgsqlConnectionStringBuilder(cluster.MultiHostConnectionString) { Database = Database, ApplicationName = applicationName }.ConnectionString;

    /// <summary>One statement on a fresh unpooled connection to <see cref="Database"/>.</summary>
    public static async Task Sql(LocalPgNode node, string sql, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(node.ConnectionStringWith(b =>
        {
            b.Database = Database;
            b.Pooling = false;
            b.CommandTimeout = 300;
        }));
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Rows in pgbench_accounts for a scale (pgbench's fixed 100,000 per unit).</summary>
    public static int Accounts(int scale) => 100_000 * scale;
}
