using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace RoutingDataSource.Benchmarks.Comparison.Micro;

/// <summary>
/// Runs every BenchmarkDotNet benchmark of this assembly (the classifier's and the routing decision's) with a short but
/// honest job: in-process (no generated project to build), 1 launch, 3 warm-up and 10 measured iterations of 250 ms,
/// memory diagnoser on. Its full log goes to artifacts/bench/micro.log; the figures come back for the results files.
/// The routing overhead per statement, which involves a server, comes from the paired overhead part instead: a job this
/// short cannot bound a figure that depends on the network and the 2 shared cores.
/// </summary>
internal static class MicroBenchmarks
{
    public const string JobDescription = "BenchmarkDotNet in-process, 1 launch, 3 warm-up + 10 measured iterations of 250 ms, MemoryDiagnoser";

    public static MicroRun Run(CompareSettings settings, TextWriter progress)
    {
        Directory.CreateDirectory(settings.ArtifactsDirectory);
        var logPath = Path.Combine(settings.ArtifactsDirectory, "micro.log");
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("short");
        using var logger = new StreamLogger(logPath);
        // A mutator: it also overrides the jobs that benchmark classes declare with attributes, instead of adding a second job.
        var config = ManualConfig.CreateEmpty()
            .AddJob(job.AsMutator())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance)
            .AddLogger(logger)
            .WithArtifactsPath(Path.Combine(settings.ArtifactsDirectory, "BenchmarkDotNet"))
            .WithOptions(ConfigOptions.DisableLogFile);
        progress.WriteLine($"micro benchmarks ({JobDescription}); log: {Path.GetRelativePath(settings.RepositoryRoot, logPath)}");
        var summaries = BenchmarkRunner.Run(typeof(MicroBenchmarks).Assembly, config);
        var figures = new List<MicroFigure>();
        foreach (var summary in summaries)
        {
            foreach (var report in summary.Reports)
            {
                var c = report.BenchmarkCase;
                var parameters = string.Join(", ", c.Parameters.Items.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name}={p.Value}")));
                figures.Add(new MicroFigure(
                    c.Descriptor.Type.Name,
                    c.Descriptor.WorkloadMethod.Name,
                    c.Descriptor.WorkloadMethodDisplayInfo.Trim('\''),
                    parameters,
                    c.Descriptor.Baseline,
                    report.ResultStatistics?.Mean,
                    report.ResultStatistics?.StandardDeviation,
                    report.GcStats.GetBytesAllocatedPerOperation(c)));
            }
        }

        foreach (var f in figures)
        {
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {f.Type}.{f.Method} [{f.Description}]{(f.Parameters.Length > 0 ? $" ({f.Parameters})" : "")}: {(f.MeanNs is { } m ? $"{m:0.0} ns/op" : "failed")}, {(f.AllocatedBytes is { } a ? $"{a} B/op" : "? B/op")}"));
        }

        return new MicroRun(figures, JobDescription);
    }
}

/// <summary>One benchmark case: mean time and allocation per operation.</summary>
internal sealed record MicroFigure(string Type, string Method, string Description, string Parameters, bool Baseline, double? MeanNs, double? StdDevNs, long? AllocatedBytes);

/// <summary>All figures of the micro part and the job that produced them.</summary>
internal sealed record MicroRun(IReadOnlyList<MicroFigure> Figures, string Job);
