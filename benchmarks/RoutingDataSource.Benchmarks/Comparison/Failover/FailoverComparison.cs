using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;
using RoutingDataSource.Benchmarks.Comparison.Systems;
using RoutingDataSource.Coordinator;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// The failover part: N trials for the routing data source and N for Pgpool-II, alternating, each on a fresh 1+2
/// cluster (a failover changes the topology for good) with a small pgbench_accounts table.
/// </summary>
internal static class FailoverComparison
{
    private const int Rows = 1000;

    /// <summary>How our side's promotion is done.</summary>
    public const string RoutingPromotion = "failover coordinator in-process, default settings: probe every 1 s (1 s timeout), 3 failed probes 0.5 s apart plus the standbys' second opinion, promotes the most advanced standby";

    public static async Task<FailoverRun> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var routing = new List<FailoverTrialRecord>();
        var pgpool = new List<FailoverTrialRecord>();
        for (var trial = 1; trial <= settings.FailoverTrials; trial++)
        {
            // Alternate which system goes first, so neither always meets a warmer machine.
            var routingFirst = trial % 2 == 1;
            for (var k = 0; k < 2; k++)
            {
                var system = (k == 0) == routingFirst ? "routing" : "pgpool";
                FailoverTrialRecord record;
                try
                {
                    record = system == "routing"
                        ? await RoutingTrialAsync(trial, cancellationToken)
                        : await PgpoolTrialAsync(trial, settings.ArtifactsDirectory, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A trial that breaks is a result too (reported, never dropped); the next one starts clean.
                    record = new FailoverTrialRecord(system, trial, null, 0, 0, 0, null, $"trial failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", []);
                }

                (record.System == "routing" ? routing : pgpool).Add(record);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"failover trial {trial,2} {record.System,-7}: {(record.Milliseconds is { } ms ? $"{ms,5:0} ms" : "no write within 30 s")} to the first write, {record.Errors} failed writes, promoted {record.PromotedNode ?? "?"}"));
            }
        }

        return new FailoverRun(routing, pgpool, RoutingPromotion);
    }

    private static async Task<LocalPgCluster> StartClusterAsync(CancellationToken cancellationToken)
    {
        // Plain node names (n0, n1, n2): the coordinator derives slot names from them.
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cancellationToken);
        try
        {
            await cluster.Primary.ExecuteAsync($"CREATE DATABASE {BenchCluster.Database}", cancellationToken);
            await BenchCluster.Sql(cluster.Primary,
                $"CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, abalance int NOT NULL DEFAULT 0); INSERT INTO pgbench_accounts (aid) SELECT generate_series(1, {Rows.ToString(CultureInfo.InvariantCulture)})",
                cancellationToken);
            await cluster.WaitForReplicationAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static async Task<FailoverTrialRecord> RoutingTrialAsync(int trial, CancellationToken cancellationToken)
    {
        await using var cluster = await StartClusterAsync(cancellationToken);
        await using var system = new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-failover"));
        await system.OpenAsync(cancellationToken);
        // The coordinator in-process with its default settings (probe every 1 s, 1 s timeout, 3 failed probes 0.5 s
        // apart, second opinion from the standbys), as the README configures it.
        var options = new CoordinatorOptions
        {
            ReplicationConnInfo = $"host={{host}} port={{port}} user={LocalPgCluster.SuperUser} application_name={{name}}",
            Http = "127.0.0.1:0",
        };
        foreach (var node in cluster.Nodes)
            options.Backends.Add(new CoordinatorBackend { Name = node.Name, ConnectionString = node.ConnectionString });
        await using var coordinator = await CoordinatorHost.StartAsync(options, cancellationToken: cancellationToken);
        for (var i = 0; i < 600 && coordinator.PrimaryName is null; i++)
            await Task.Delay(50, cancellationToken);
        if (coordinator.PrimaryName is null)
            throw new TimeoutException("The coordinator found no primary within 30 s.");

        var outcome = await FailoverTrial.RunAsync(system, cluster, Rows, cancellationToken);
        var status = system.DataSource.GetStatus();
        return FailoverTrialRecord.From("routing", trial, outcome, status.PrimaryName, $"coordinator's primary afterwards: {coordinator.PrimaryName ?? "none"}");
    }

    private static async Task<FailoverTrialRecord> PgpoolTrialAsync(int trial, string artifacts, CancellationToken cancellationToken)
    {
        await using var cluster = await StartClusterAsync(cancellationToken);
        var tools = PgTools.Beside(cluster.Primary);
        await using var pgpool = await PgpoolInstance.StartAsync(cluster, tools, Path.Combine(artifacts, $"pgpool-failover-{trial.ToString(CultureInfo.InvariantCulture)}"), cancellationToken);
        await using var system = new PgpoolSystem(pgpool, BenchCluster.Database, cluster.Standbys[0].Port);
        await system.OpenAsync(cancellationToken);
        var outcome = await FailoverTrial.RunAsync(system, cluster, Rows, cancellationToken);
        var log = pgpool.ReadFailoverLog();
        var promotedLine = log.Split('\n').LastOrDefault(l => l.Contains("promoted node", StringComparison.Ordinal));
        var promoted = promotedLine is null ? null : cluster.Nodes[int.Parse(promotedLine.Split(' ')[^1], CultureInfo.InvariantCulture)].Name;
        return FailoverTrialRecord.From("pgpool", trial, outcome, promoted, log.Length == 0 ? "failover script did not run" : null);
    }
}

/// <summary>One trial as reported.</summary>
internal sealed record FailoverTrialRecord(string System, int Trial, double? Milliseconds, double StopMilliseconds, long WritesBefore, long Errors, string? PromotedNode, string? Note, IReadOnlyList<string> ErrorSamples)
{
    public static FailoverTrialRecord From(string system, int trial, TrialOutcome o, string? promoted, string? note) =>
        new(system, trial, o.TimeToFirstWrite?.TotalMilliseconds, o.StopTook.TotalMilliseconds, o.WritesBefore, o.Errors, promoted, note, o.ErrorSamples);
}

/// <summary>Both systems' trials and how our side's promotion was done.</summary>
internal sealed record FailoverRun(IReadOnlyList<FailoverTrialRecord> Routing, IReadOnlyList<FailoverTrialRecord> Pgpool, string RoutingPromotion);
