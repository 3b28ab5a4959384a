using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;
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
    public static async Task<ThroughputRun> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        await using var cluster = await BenchCluster.StartAsync("tp-", cancellationToken);
        var tools = PgTools.Beside(cluster.Primary);
        progress.WriteLine($"cluster {cluster} ({cluster.ServerVersion}); loading pgbench -i -s {settings.Scale} ...");
        var load = await BenchCluster.LoadPgbenchAsync(cluster, tools, settings.Scale, cancellationToken);
        progress.WriteLine($"loaded and replicated in {load.TotalSeconds:0.0} s; starting pgpool");
        await using var pgpool = await PgpoolInstance.StartAsync(cluster, tools, Path.Combine(settings.ArtifactsDirectory, "pgpool-throughput"), cancellationToken);
        var config = await File.ReadAllTextAsync(Path.Combine(pgpool.Directory, PgpoolConfig.ConfFile), cancellationToken);

        ISystemUnderTest[] systems =
        [
            new PlainNpgsqlSystem(BenchCluster.ConnectionString(cluster.Primary, "bench-npgsql")),
            new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-routing1"), primaryOnly: true),
            new NpgsqlMultiHostSystem(BenchCluster.MultiHostConnectionString(cluster, "bench-multihost"), cluster.Primary.Port),
            new PgpoolSystem(pgpool, BenchCluster.Database),
            new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-routing")),
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
                foreach (var workload in Workload.All)
                    await WorkloadRunner.RunAsync(system, workload, settings.Callers.Max(), 0, accounts, TimeSpan.Zero, TimeSpan.FromSeconds(1), 1, cancellationToken);
            }

            progress.WriteLine("warmed up every system; measuring");
            for (var round = 1; round <= settings.Rounds; round++)
            {
                var cell = 0;
                foreach (var workload in Workload.All)
                {
                    foreach (var callers in settings.Callers)
                    {
                        // A Latin square: the starting system moves by one per round and per cell, so over as many rounds
                        // as there are systems each system takes every position once in every cell, and a drift of the
                        // machine within a cell (or a carry-over from the cell before) favours none of them.
                        var shift = (round - 1 + cell++) % systems.Length;
                        var order = systems.Skip(shift).Concat(systems.Take(shift)).ToArray();
                        var line = new List<string>();
                        // Unmeasured: the first window after the workload or the number of callers changes runs slower
                        // whichever system it measures. The system measured last runs this ramp.
                        await WorkloadRunner.RunAsync(order[^1], workload, callers, round, accounts, TimeSpan.Zero, settings.Warmup, 1, cancellationToken);
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
}

/// <summary>Everything the throughput part measured, plus what the report needs to describe it.</summary>
internal sealed record ThroughputRun(IReadOnlyList<Measurement> Measurements, string ServerVersion, TimeSpan LoadTime, string PgpoolConfig, IReadOnlyDictionary<string, string> Labels);
