using System.Globalization;

namespace RoutingDataSource.Benchmarks.Comparison;

/// <summary>
/// What one <c>compare</c> run does, from its command line:
/// <c>compare [all|throughput|failover|overhead|micro|corpus]... [--rounds N] [--warmup S] [--duration S] [--callers 1,8,32]
/// [--scale N] [--trials N] [--overhead-rounds N] [--server-cpu CORES] [--out DIR] [--no-readme]</c>.
/// </summary>
internal sealed record CompareSettings
{
    public bool Throughput { get; init; }
    public bool Failover { get; init; }
    public bool Overhead { get; init; }
    public bool Micro { get; init; }
    /// <summary>The corpus replay (never part of "all": it takes a cluster per system and tells counts, not timings).</summary>
    public bool Corpus { get; init; }
    // Ten rounds of short windows rather than five of long ones: the noise of one window on the 2-core machine hardly
    // depends on its length, so more pairs narrow the ratios' intervals for the same time (see OverheadComparison). Ten
    // rounds are two turns of the rotation for the five systems of the mixed and write cells (see ThroughputComparison),
    // and the fewest for which the median of the same-round ratios has a 95% interval (the 2nd to the 9th of them).
    public int Rounds { get; init; } = 10;
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(0.25);
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(1);
    public IReadOnlyList<int> Callers { get; init; } = [1, 8, 32];
    /// <summary>The throughput part's workloads (<c>--workloads read,mixed,write,tenant</c>; all by default).</summary>
    public IReadOnlyList<Workloads.Workload> Workloads { get; init; } = Comparison.Workloads.Workload.All;
    public int Scale { get; init; } = 10;

    /// <summary>
    /// The throughput part's servers each capped at this many cores (<c>--server-cpu 0.4</c>; see
    /// <see cref="Infrastructure.ServerCpuCaps"/>), so that each has the capacity of a small machine of its own; null
    /// (the default) leaves them sharing the machine with the client.
    /// </summary>
    public double? ServerCpu { get; init; }
    public int FailoverTrials { get; init; } = 10;
    // Many short pairs (see OverheadComparison): 200 pairs of 0.2 s bound the median ratio at 16 callers to about
    // ±2–3% on this machine, in about the time 80 pairs of 0.5 s took (±4–6%).
    public int OverheadRounds { get; init; } = 200;
    public TimeSpan OverheadDuration { get; init; } = TimeSpan.FromSeconds(0.2);
    public required string RepositoryRoot { get; init; }
    public required string OutputDirectory { get; init; }
    public bool UpdateReadme { get; init; } = true;

    /// <summary>Where generated pgpool configurations and logs are kept for inspection (artifacts/bench).</summary>
    public string ArtifactsDirectory => Path.Combine(RepositoryRoot, "artifacts", "bench");

    /// <summary>The command that produced the results, as the user typed it (build.sh passes it in BENCH_COMMAND).</summary>
    public required string Command { get; init; }

    /// <summary>Whether every part ran with the default durations: only such a run may rewrite the README's table.</summary>
    public bool IsFullRun { get; init; }

    /// <summary>
    /// Appended to the results files' base name: empty for a full run; otherwise the parts (and "-custom" when a
    /// duration or count differs from the default), so that a partial run never overwrites the day's full results.
    /// </summary>
    public string ResultsSuffix { get; init; } = "";

    public static CompareSettings Parse(IReadOnlyList<string> args)
    {
        var root = FindRepositoryRoot();
        var parts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var s = new CompareSettings
        {
            RepositoryRoot = root,
            OutputDirectory = Path.Combine(root, "benchmarks", "results"),
            Command = Environment.GetEnvironmentVariable("BENCH_COMMAND") is { Length: > 0 } c
                ? c
                : "dotnet run --project benchmarks/RoutingDataSource.Benchmarks -c Release -- compare " + string.Join(' ', args),
        };
        var defaults = true;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            double Seconds() => double.Parse(Value(), CultureInfo.InvariantCulture);
            int Number() => int.Parse(Value(), CultureInfo.InvariantCulture);
            switch (a)
            {
                case "all" or "throughput" or "failover" or "overhead" or "micro" or "corpus":
                    parts.Add(a);
                    break;
                case "--rounds":
                    s = s with { Rounds = Number() };
                    defaults = false;
                    break;
                case "--warmup":
                    s = s with { Warmup = TimeSpan.FromSeconds(Seconds()) };
                    defaults = false;
                    break;
                case "--duration":
                    s = s with { Duration = TimeSpan.FromSeconds(Seconds()) };
                    defaults = false;
                    break;
                case "--callers":
                    s = s with { Callers = Value().Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() };
                    defaults = false;
                    break;
                case "--workloads":
                    s = s with { Workloads = Value().Split(',').Select(Comparison.Workloads.Workload.Parse).ToArray() };
                    defaults = false;
                    break;
                case "--scale":
                    s = s with { Scale = Number() };
                    defaults = false;
                    break;
                case "--trials":
                    s = s with { FailoverTrials = Number() };
                    defaults = false;
                    break;
                case "--server-cpu":
                    s = s with { ServerCpu = double.Parse(Value(), CultureInfo.InvariantCulture) };
                    defaults = false;
                    break;
                case "--overhead-rounds":
                    s = s with { OverheadRounds = Number() };
                    defaults = false;
                    break;
                case "--out":
                    s = s with { OutputDirectory = Path.GetFullPath(Value()) };
                    break;
                case "--no-readme":
                    s = s with { UpdateReadme = false };
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{a}'. Usage: compare [all|throughput|failover|overhead|micro|corpus]... [--rounds N] [--warmup S] [--duration S] [--callers 1,8,32] [--workloads read,mixed,write,tenant] [--scale N] [--trials N] [--overhead-rounds N] [--server-cpu CORES] [--out DIR] [--no-readme]");
            }
        }

        var all = parts.Count == 0 || parts.Contains("all");
        if (s.Rounds < 1 || s.FailoverTrials < 1 || s.OverheadRounds < 1 || s.Scale < 1 || s.Callers.Count == 0 || s.Callers.Any(c => c < 1) || s.Duration <= TimeSpan.Zero || s.Warmup < TimeSpan.Zero)
            throw new ArgumentException("Rounds, trials, scale and callers must be at least 1, the duration positive and the warm-up not negative.");
        if (s.ServerCpu is { } cap && (cap <= 0 || cap > Environment.ProcessorCount))
            throw new ArgumentException($"--server-cpu is a share of this machine's {Environment.ProcessorCount} cores per server: more than 0, at most {Environment.ProcessorCount}.");
        return s with
        {
            Throughput = all || parts.Contains("throughput"),
            Failover = all || parts.Contains("failover"),
            Overhead = all || parts.Contains("overhead"),
            Micro = all || parts.Contains("micro"),
            Corpus = parts.Contains("corpus"),
            IsFullRun = all && defaults,
            ResultsSuffix = all && defaults ? ""
                : "-" + (all ? "all" : string.Join('-', new[] { "throughput", "failover", "overhead", "micro" }.Where(parts.Contains)))
                    + (defaults ? "" : "-custom"),
        };
    }

    // build.sh runs from the repository root; the binary may run from elsewhere, so look up from both.
    internal static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "RoutingDataSource.sln")))
                    return dir.FullName;
            }
        }

        throw new InvalidOperationException("Run from inside the repository: RoutingDataSource.sln was not found above the current directory.");
    }
}
