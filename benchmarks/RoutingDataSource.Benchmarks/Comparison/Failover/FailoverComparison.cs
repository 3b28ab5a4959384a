using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;
using RoutingDataSource.Benchmarks.Comparison.Systems;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// The failover part: N trials each for the routing data source with one coordinator, the same with three
/// coordinators in HA mode on a 3-member etcd, and Pgpool-II, in rotating order, each on a fresh 1+2 cluster (a
/// failover changes the topology for good) with a small pgbench_accounts table. One etcd serves every HA trial (a
/// key prefix of its own per trial).
/// </summary>
internal static class FailoverComparison
{
    private const int Rows = 1000;

    /// <summary>How our side's promotion is done.</summary>
    public const string RoutingPromotion = "failover coordinator in-process, default settings: probe every 1 s (1 s timeout), 3 failed probes 0.5 s apart plus the standbys' second opinion, promotes the most advanced standby";

    /// <summary>How the HA side's promotion is done.</summary>
    public const string RoutingHaPromotion = "three failover coordinators in-process in HA mode on a 3-member etcd (default LeaseTtl 5 s), the leader decides with the same default settings";

    private static readonly string[] Systems = ["routing", "routing-ha", "pgpool"];

    public static async Task<FailoverRun> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var records = Systems.ToDictionary(s => s, _ => new List<FailoverTrialRecord>(), StringComparer.Ordinal);
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3, NamePrefix = "bench-" }, cancellationToken);
        for (var trial = 1; trial <= settings.FailoverTrials; trial++)
        {
            // Rotate which system goes first, so none always meets a warmer machine.
            for (var k = 0; k < Systems.Length; k++)
            {
                var system = Systems[(trial - 1 + k) % Systems.Length];
                FailoverTrialRecord record;
                try
                {
                    record = system switch
                    {
                        "routing" => await RoutingTrialAsync(trial, null, cancellationToken),
                        "routing-ha" => await RoutingTrialAsync(trial, etcd, cancellationToken),
                        _ => await PgpoolTrialAsync(trial, settings.ArtifactsDirectory, cancellationToken),
                    };
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A trial that breaks is a result too (reported, never dropped); the next one starts clean.
                    record = new FailoverTrialRecord(system, trial, null, 0, 0, 0, null, $"trial failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", []);
                }

                records[record.System].Add(record);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"failover trial {trial,2} {record.System,-10}: {(record.Milliseconds is { } ms ? $"{ms,5:0} ms" : "no write within 30 s")} to the first write, {record.Errors} failed writes, promoted {record.PromotedNode ?? "?"}"));
            }
        }

        return new FailoverRun(records["routing"], records["pgpool"], RoutingPromotion, records["routing-ha"], RoutingHaPromotion);
    }

    /// <summary>
    /// A fresh 1+2 cluster with the <c>bench</c> database and a small pgbench_accounts table, replicated; with
    /// <paramref name="synchronous"/> the standbys are synchronous (<c>ANY 1 (n1, n2)</c>).
    /// </summary>
    internal static async Task<LocalPgCluster> StartClusterAsync(CancellationToken cancellationToken, bool synchronous = false)
    {
        // Plain node names (n0, n1, n2): the coordinator derives slot names from them.
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = synchronous }, cancellationToken);
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

    /// <summary>One coordinator alone (<paramref name="etcd"/> null), or three in HA mode on <paramref name="etcd"/>.</summary>
    private static async Task<FailoverTrialRecord> RoutingTrialAsync(int trial, LocalEtcdCluster? etcd, CancellationToken cancellationToken)
    {
        await using var cluster = await StartClusterAsync(cancellationToken);
        await using var system = new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-failover"));
        await system.OpenAsync(cancellationToken);
        // The coordinators in-process with their default settings (probe every 1 s, 1 s timeout, 3 failed probes 0.5 s
        // apart, second opinion from the standbys; in HA mode LeaseTtl 5 s), as the README configures them.
        string[] names = etcd is null ? ["c1"] : ["c1", "c2", "c3"];
        await using var coordinators = await BenchCoordinators.StartAsync(cluster, names.Length, etcd, null, cancellationToken);
        var outcome = await FailoverTrial.RunAsync(system, cluster, Rows, cancellationToken);
        var status = system.DataSource.GetStatus();
        var promotions = cluster.Nodes.Sum(n => n.ReadLogTail(5000).Split('\n').Count(l => l.Contains("received promote request", StringComparison.Ordinal)));
        var leader = coordinators.Hosts.ToList().FindIndex(c => c.IsLeader);
        return FailoverTrialRecord.From(etcd is null ? "routing" : "routing-ha", trial, outcome, status.PrimaryName,
            $"{(etcd is null ? "coordinator" : $"leader {(leader >= 0 ? names[leader] : "none")}")}'s primary afterwards: {(leader >= 0 ? coordinators.Hosts[leader].PrimaryName : null) ?? "none"}; promote requests: {promotions}");
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

/// <summary>Every system's trials and how our sides' promotions were done.</summary>
internal sealed record FailoverRun(IReadOnlyList<FailoverTrialRecord> Routing, IReadOnlyList<FailoverTrialRecord> Pgpool, string RoutingPromotion,
    IReadOnlyList<FailoverTrialRecord> RoutingHa, string RoutingHaPromotion);
