using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;
using RoutingDataSource.Benchmarks.Comparison.Results;
using RoutingDataSource.Benchmarks.Comparison.Systems;

namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>
/// The side-by-side throughput part: one cluster with the pgbench data set, the four systems open side by side for the
/// whole part, and for every round, workload and concurrency each system measured in turn. The order of the systems
/// rotates from round to round and from cell to cell so that none always runs first (on a warmer or colder machine),
/// and each cell starts with an unmeasured ramp at its workload and concurrency.
/// </summary>
internal static class ThroughputComparison
{
    // The first window after the workload or the number of callers changes runs slower whichever system it measures.
    internal static readonly TimeSpan Ramp = TimeSpan.FromSeconds(0.5);

    public static async Task<ThroughputRun> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        await using var cluster = await BenchCluster.StartAsync("tp-", cancellationToken);
        var tools = PgTools.Beside(cluster.Primary);
        progress.WriteLine($"cluster {cluster} ({cluster.ServerVersion}); loading pgbench -i -s {settings.Scale} ...");
        var load = await BenchCluster.LoadPgbenchAsync(cluster, tools, settings.Scale, cancellationToken);
        progress.WriteLine($"loaded and replicated in {load.TotalSeconds:0.0} s; starting pgpool");
        // After the load, which needs no cap: from here each server has the capacity of a small machine of its own.
        using var caps = settings.ServerCpu is { } cores ? ServerCpuCaps.Apply(cluster, cores) : null;
        if (settings.ServerCpu is { } capped)
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"each server capped at {capped:0.##} of a core"));
        await using var pgpool = await PgpoolInstance.StartAsync(cluster, tools, Path.Combine(settings.ArtifactsDirectory, "pgpool-throughput"), cancellationToken);
        var config = await File.ReadAllTextAsync(Path.Combine(pgpool.Directory, PgpoolConfig.ConfFile), cancellationToken);

        var firstStandbyPort = cluster.Standbys[0].Port;
        ISystemUnderTest[] systems =
        [
            new PlainNpgsqlSystem(BenchCluster.ConnectionString(cluster.Primary, "bench-npgsql")),
            new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-routing1"), RoutingLayout.PrimaryOnly),
            new NpgsqlMultiHostSystem(BenchCluster.MultiHostConnectionString(cluster, "bench-multihost"), cluster.Primary.Port, firstStandbyPort),
            new PgpoolSystem(pgpool, BenchCluster.Database, firstStandbyPort),
            new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-routing")),
            new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-routing21"), RoutingLayout.StandbysTwoToOne),
        ];
        var measurements = new List<Measurement>();
        try
        {
            foreach (var system in systems)
                await system.OpenAsync(cancellationToken);

            var accounts = BenchCluster.Accounts(settings.Scale);

            // One unmeasured second of every workload through every system first, so that JIT tiering and the pools'
            // growth happen before round 1 and do not count against whichever system happens to go first.
            foreach (var system in systems)
            {
                foreach (var workload in settings.Workloads.Where(w => Measures(system, w)))
                    await WorkloadRunner.RunAsync(system, workload, settings.Callers.Max(), 0, accounts, TimeSpan.Zero, TimeSpan.FromSeconds(1), 1, cancellationToken);
            }

            progress.WriteLine("warmed up every system; measuring");
            for (var round = 1; round <= settings.Rounds; round++)
            {
                var cell = 0;
                foreach (var workload in settings.Workloads)
                {
                    foreach (var callers in settings.Callers)
                    {
                        // A Latin square: the starting system moves by one per round and per cell, so over as many rounds
                        // as there are systems each system takes every position once in every cell, and a drift of the
                        // machine within a cell (or a carry-over from the cell before) favours none of them.
                        var inCell = systems.Where(x => Measures(x, workload)).ToArray();
                        var shift = (round - 1 + cell++) % inCell.Length;
                        var order = inCell.Skip(shift).Concat(inCell.Take(shift)).ToArray();
                        var line = new List<string>();
                        // Unmeasured: the first window after the workload or the number of callers changes runs slower
                        // whichever system it measures. The system measured last runs this ramp.
                        await WorkloadRunner.RunAsync(order[^1], workload, callers, round, accounts, TimeSpan.Zero, Ramp, 1, cancellationToken);
                        foreach (var system in order)
                        {
                            var seed = HashCode.Combine(round, workload.Key, callers) & 0x7fff;
                            var m = await WorkloadRunner.RunAsync(system, workload, callers, round, accounts, settings.Warmup, settings.Duration, seed, cancellationToken);
                            measurements.Add(m);
                            line.Add(string.Create(CultureInfo.InvariantCulture, $"{system.Key} {m.OpsPerSecond,7:0}/s{(m.Errors > 0 ? $" ({m.Errors} errors)" : "")}"));
                        }

                        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"round {round} {workload.Key,-5} x{callers,-2}: {string.Join(" | ", line)}"));
                    }
                }
            }
        }
        finally
        {
            foreach (var system in systems)
                await system.DisposeAsync();
        }

        return new ThroughputRun(measurements, cluster.ServerVersion, load, config, systems.ToDictionary(s => s.Key, s => s.Label));
    }

    // The 2 : 1 layout answers one question, read-only throughput against Npgsql multi-host with the reads placed alike,
    // so it runs in the read-only cells only (the part stays within its time budget).
    // The tenant cell needs one connection's state across reads and writes, which Npgsql multi-host's split into a
    // read and a write data source cannot keep.
    private static bool Measures(ISystemUnderTest system, Workload workload) =>
        workload.SessionStatements > 0 ? system.RunsTenantSessions
        : system.Key != ReportBuilder.OursTwoToOne || workload == Workload.ReadOnly;
}

/// <summary>Everything the throughput part measured, plus what the report needs to describe it.</summary>
internal sealed record ThroughputRun(IReadOnlyList<Measurement> Measurements, string ServerVersion, TimeSpan LoadTime, string PgpoolConfig, IReadOnlyDictionary<string, string> Labels);
