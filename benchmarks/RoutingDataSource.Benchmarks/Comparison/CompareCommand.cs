using System.Diagnostics;
using RoutingDataSource.Benchmarks.Comparison.Failover;
using RoutingDataSource.Benchmarks.Comparison.Micro;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Results;
using RoutingDataSource.Benchmarks.Comparison.Workloads;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison;

/// <summary>
/// The <c>compare</c> mode (what <c>./build.sh bench</c> runs): the throughput part, the failover part, the overhead
/// part and the micro benchmarks, then the results files and the README table. Every process it starts (servers, pgpool) is stopped
/// before it returns, also on failure and on Ctrl-C.
/// </summary>
internal static class CompareCommand
{
    public static Task<int> RunAsync(string[] args) => ConsoleCommand.RunAsync(() => CompareSettings.Parse(args), CompareAsync);

    private static async Task<int> CompareAsync(CompareSettings settings, CancellationToken cancellationToken)
    {
        var progress = Console.Out;
        var started = DateTimeOffset.Now;
        var load = MachineInfo.LoadAverage();
        var clock = Stopwatch.StartNew();
        ThroughputRun? throughput = null;
        FailoverRun? failover = null;
        OverheadRun? overhead = null;
        MicroRun? micro = null;
        if (settings.Corpus)
        {
            var corpus = await Corpus.CorpusComparison.RunAsync(settings, progress, cancellationToken);
            var written = corpus.Write(settings.OutputDirectory);
            progress.WriteLine(corpus.Markdown());
            progress.WriteLine($"results: {Path.GetRelativePath(settings.RepositoryRoot, written)} (+ .json)");
            if (!settings.Throughput && !settings.Failover && !settings.Overhead && !settings.Micro)
                return 0;
        }

        if (settings.Throughput)
        {
            throughput = await ThroughputComparison.RunAsync(settings, progress, cancellationToken);
            progress.WriteLine($"throughput part done at {clock.Elapsed.TotalMinutes:0.0} min");
        }

        if (settings.Failover)
        {
            failover = await FailoverComparison.RunAsync(settings, progress, cancellationToken);
            progress.WriteLine($"failover part done at {clock.Elapsed.TotalMinutes:0.0} min");
        }

        if (settings.Overhead)
        {
            overhead = await OverheadComparison.RunAsync(settings, progress, cancellationToken);
            progress.WriteLine($"overhead part done at {clock.Elapsed.TotalMinutes:0.0} min");
        }

        if (settings.Micro)
        {
            micro = MicroBenchmarks.Run(settings, progress);
            progress.WriteLine($"micro benchmarks done at {clock.Elapsed.TotalMinutes:0.0} min");
        }

        var machine = await BenchMachine.DescribeAsync(settings.RepositoryRoot, throughput?.ServerVersion ?? overhead?.ServerVersion ?? await ServerVersionAsync(cancellationToken), cancellationToken);
        var report = ReportBuilder.Build(settings, started, machine, [load.One, load.Five, load.Fifteen], throughput, failover, overhead, micro);
        var (markdown, table, readme) = ResultsWriter.Write(report, settings);
        progress.WriteLine();
        progress.WriteLine(table);
        progress.WriteLine($"results: {Path.GetRelativePath(settings.RepositoryRoot, markdown)} (+ .json){(readme ? "; README.md's Performance section updated" : "")}");
        foreach (var t in report.Targets.Where(t => t.Verdict != TargetVerdict.Met))
            progress.WriteLine($"target {(t.Verdict == TargetVerdict.Missed ? "missed" : "undecided")}: {t.Target}: {t.Requirement}, measured {t.Measured}");
        return 0;
    }

    // Without the throughput part no cluster reported its version: ask the binaries LocalPgCluster would use.
    private static async Task<string> ServerVersionAsync(CancellationToken cancellationToken)
    {
        await using var cluster = await Testing.LocalPgCluster.StartAsync(new Testing.LocalPgClusterOptions { Standbys = 0, NamePrefix = "v-" }, cancellationToken);
        return cluster.ServerVersion;
    }
}
