using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Workloads;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>
/// Writes <c>&lt;date&gt;-&lt;machine&gt;.json</c> (every figure) and <c>.md</c> (the same, readable) into the results
/// directory (a partial run adds its parts to the name, see <see cref="CompareSettings.ResultsSuffix"/>; a name already
/// taken gets <c>-2</c>, <c>-3</c>... so that no earlier result is overwritten), plus README-table.md, and puts that
/// table into README.md between its markers.
/// </summary>
internal static class ResultsWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes the files; returns the markdown path and the README table.</summary>
    public static (string Markdown, string Table, bool ReadmeUpdated) Write(BenchReport report, CompareSettings settings)
    {
        Directory.CreateDirectory(settings.OutputDirectory);
        // A second run on the same day and machine gets its own files: earlier results are never overwritten.
        var baseName = ResultsFiles.FreeBaseName(settings.OutputDirectory,
            string.Create(CultureInfo.InvariantCulture, $"{report.StartedAt:yyyy-MM-dd}-{Slug(report.Machine.HostName)}{settings.ResultsSuffix}"));
        var json = Path.Combine(settings.OutputDirectory, baseName + ".json");
        var md = Path.Combine(settings.OutputDirectory, baseName + ".md");
        File.WriteAllText(json, JsonSerializer.Serialize(report, Json) + "\n");
        File.WriteAllText(md, Markdown(report, baseName));
        if (report.Overhead is not null)
        {
            var overheadFile = Path.Combine(settings.OutputDirectory, OverheadFile);
            var previous = PreviousOverhead(overheadFile, settings.OutputDirectory);
            File.WriteAllText(overheadFile, OverheadMarkdown(report, baseName, previous));
        }
        var table = ReadmeTable.Render(report, baseName + ".md");
        var updated = false;
        if (settings.UpdateReadme && settings.IsFullRun)
        {
            File.WriteAllText(Path.Combine(settings.OutputDirectory, "README-table.md"), table);
            updated = ReadmeTable.TryUpdateReadme(Path.Combine(settings.RepositoryRoot, "README.md"), table);
        }

        return (md, table, updated);
    }

    /// <summary>The routing layer's overhead on its own (issue: "record in benchmarks/results/overhead.md").</summary>
    public const string OverheadFile = "overhead.md";

    internal static string Slug(string name)
    {
        var chars = name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        return new string(chars).Trim('-') is { Length: > 0 } s ? s : "machine";
    }

    private static string OverheadMarkdown(BenchReport r, string baseName, PreviousRun? previous)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(inv, $"# Routing overhead {r.StartedAt:yyyy-MM-dd HH:mm zzz}, {r.Machine.HostName}");
        s.AppendLine();
        Header(s, r, baseName);
        Overhead(s, r, r.Overhead!);
        if (previous is not null)
            AgainstPrevious(s, r, previous);
        return s.ToString();
    }

    /// <summary>The overhead run that <see cref="OverheadFile"/> showed until now, read back from its JSON file.</summary>
    private sealed record PreviousRun(string Name, string Commit, double LoadAverage, OverheadReport Overhead);

    // Named by the overhead file's link to its JSON file. Only the overhead part and two facts about the machine are
    // read back (the machine description is written, never read).
    private static PreviousRun? PreviousOverhead(string overheadFile, string directory)
    {
        if (!File.Exists(overheadFile))
            return null;
        var link = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(overheadFile), @"Every figure is also in \[`(?<name>[^`]+)\.json`\]");
        var json = Path.Combine(directory, link.Groups["name"].Value + ".json");
        if (!link.Success || !File.Exists(json))
            return null;
        try
        {
            var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json));
            var overhead = root?["overhead"]?.Deserialize<OverheadReport>(Json);
            if (overhead is null)
                return null;
            return new PreviousRun(link.Groups["name"].Value, root?["machine"]?["gitCommit"]?.GetValue<string>() ?? "?",
                root?["load"]?["loadAverageAtStart"]?[0]?.GetValue<double>() ?? double.NaN, overhead);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            return null; // written by a harness whose shape this one no longer reads: no comparison
        }
    }

    private static void AgainstPrevious(StringBuilder s, BenchReport r, PreviousRun previous)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("## Against the previous overhead run");
        s.AppendLine();
        s.AppendLine(inv, $"The run this file showed before: [`{previous.Name}.md`]({previous.Name}.md), commit {previous.Commit}, load average {previous.LoadAverage:0.0} at its start (this run: commit {r.Machine.GitCommit}, {r.Load.LoadAverageAtStart.FirstOrDefault():0.0}). Each figure is paired within its own run (both systems, the same pairs of windows); compare runs of one quiet machine only.");
        s.AppendLine();
        s.AppendLine("| callers | ÷ Npgsql, before → now | client CPU over Npgsql per statement, before → now | allocated B/op (routing1 / npgsql), before → now |");
        s.AppendLine("|---:|---|---|---|");
        foreach (var now in r.Overhead!.Cells.Where(c => c.System == ReportBuilder.OursOnOneServer))
        {
            var before = previous.Overhead.Cells.FirstOrDefault(c => c.System == now.System && c.Callers == now.Callers);
            if (before is null)
                continue;
            s.AppendLine(inv,
                $"| {now.Callers} | {ReadmeTable.RatioWithInterval(before.RatioToNpgsql)} → {ReadmeTable.RatioWithInterval(now.RatioToNpgsql)} | {ReadmeTable.DifferenceWithInterval(before.CpuOverMicroseconds, "µs")} → {ReadmeTable.DifferenceWithInterval(now.CpuOverMicroseconds, "µs")} | {Allocated(previous.Overhead, before)} → {Allocated(r.Overhead, now)} |");
        }

        s.AppendLine();
    }

    private static string Allocated(OverheadReport overhead, OverheadCell cell)
    {
        var baseline = overhead.Cells.FirstOrDefault(c => c.System == ReportBuilder.Baseline && c.Callers == cell.Callers);
        return string.Create(CultureInfo.InvariantCulture, $"{cell.MedianAllocatedBytesPerOp:0} / {baseline?.MedianAllocatedBytesPerOp ?? double.NaN:0}");
    }

    private static string Markdown(BenchReport r, string baseName)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(inv, $"# Benchmark results {r.StartedAt:yyyy-MM-dd HH:mm zzz}, {r.Machine.HostName}");
        s.AppendLine();
        Header(s, r, baseName);

        s.AppendLine("## Targets");
        s.AppendLine();
        s.AppendLine("A target is met (or missed) only when the 95% confidence interval of the measured figure lies wholly on one side of the requirement; otherwise this run leaves it undecided. The interval of a median of n values is distribution-free: from the k-th smallest to the k-th largest value, with k from the binomial distribution (n = 10 gives the 2nd to the 9th; below 6 values there is none).");
        s.AppendLine();
        ReadmeTable.Targets(s, r.Targets);

        if (r.Throughput is { } tp)
            Throughput(s, r, tp);
        if (r.Failover is { } fo)
            Failover(s, fo);
        if (r.Overhead is { } oh)
            Overhead(s, r, oh);
        if (r.Micro is { } mi)
            Micro(s, mi);

        s.AppendLine("## Method");
        s.AppendLine();
        s.AppendLine("See [benchmarks/README.md](../README.md) for the method and [benchmarks/PGPOOL.md](../PGPOOL.md) for the generated Pgpool-II configuration and failover script.");
        return s.ToString();
    }

    private static void Header(StringBuilder s, BenchReport r, string baseName)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine(inv, $"Command: `{r.Command}` (from the repository root; {(r.FinishedAt - r.StartedAt).TotalMinutes:0.0} min). Every figure is also in [`{baseName}.json`]({baseName}.json).");
        s.AppendLine();
        s.AppendLine("## Machine and load");
        s.AppendLine();
        s.AppendLine(inv, $"- {r.Machine.Hardware()}");
        s.AppendLine(inv, $"- {r.Machine.DotNet}; Npgsql {r.Machine.Npgsql}; {r.Machine.PostgreSql}; {r.Machine.Pgpool()}; BenchmarkDotNet {r.Machine.BenchmarkDotNet()}; RoutingDataSource {r.Machine.RoutingDataSource()} at commit {r.Machine.GitCommit}");
        s.AppendLine(inv, $"- **The client (this process, all systems' pools), the three PostgreSQL servers and Pgpool-II share these {r.Machine.Cores} cores.** Absolute figures are those of a small shared machine; the ratios are what travel.");
        if (r.Parameters.ServerCpuCores is { } cap)
            s.AppendLine(inv, $"- **During the throughput part each PostgreSQL server was capped at {cap:0.##} of a core** (`--server-cpu`: a CPU cgroup per server, the quota enforced by the kernel every {ServerCpuCaps.Period / 1000} ms), so that each had the capacity of a small machine of its own, as a standby has in a deployment. The client and Pgpool-II were not capped. Plain Npgsql on the primary then has one server's capacity, the systems that route reads have three.");
        s.AppendLine(inv, $"- Load average when the run started: {string.Join(" / ", r.Load.LoadAverageAtStart.Select(x => x.ToString("0.00", inv)))} (1 / 5 / 15 min).");
        if (r.Load.OthersCpuMedian is { } others)
        {
            s.AppendLine(inv, $"- During the throughput measurements this run used {r.Load.OursCpuMedian * 100:0}% of the machine's CPU (median); other processes used {others * 100:0}% (median), {r.Load.OthersCpuMax * 100:0}% at most (from /proc: all busy time minus this process tree's).");
        }

        s.AppendLine(r.Load.Shared
            ? "- **The machine was shared during this run** (other builds and test suites): expect more noise than on a quiet machine; the systems were interleaved so that all of them met the same conditions."
            : "- The machine was otherwise quiet during this run.");
        s.AppendLine();
    }

    private static void Overhead(StringBuilder s, BenchReport r, OverheadReport oh)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("## Routing overhead on one server");
        s.AppendLine();
        s.AppendLine(inv, $"`{oh.Statement}` through `PgRoutingDataSource` with one backend (`routing1`) against a plain `NpgsqlDataSource` (`npgsql`) on the same server, default pool settings. Each caller opens a connection, runs the statement and closes the connection, in a closed loop. Per number of callers, after an unmeasured {OverheadComparison.Ramp.TotalSeconds:0.#} s ramp at that concurrency, {r.Parameters.OverheadRounds} pairs: both systems one after the other (the order alternating), each {OverheadComparison.Warmup.TotalSeconds:0.##} s warm-up then {r.Parameters.OverheadDurationSeconds:0.#} s measured. Medians over pairs; the ratio is the median of the pairs' ratios, with its 95% confidence interval. Allocated: every byte the process allocated in the window (the routing data source's health monitor included) per statement; its ratio is the median of the pairs' ratios. CPU: this process's CPU time per statement (getrusage(2), to the microsecond; thread-pool spinning included).");
        s.AppendLine();
        s.AppendLine("| callers | system | ops/s (median) | ÷ Npgsql | allocated B/op | allocated ÷ Npgsql | client CPU µs/op | CPU over Npgsql per statement (95% CI) | errors | ops/s, 10th–90th percentile of the windows |");
        s.AppendLine("|---:|---|---:|---:|---:|---:|---:|---|---:|---|");
        foreach (var c in oh.Cells)
        {
            s.AppendLine(inv,
                $"| {c.Callers} | {c.System} | {ReadmeTable.Number(c.MedianOpsPerSecond)} | {ReadmeTable.RatioWithInterval(c.RatioToNpgsql)} | {c.MedianAllocatedBytesPerOp:0} | {ReadmeTable.RatioWithInterval(c.AllocatedRatioToNpgsql)} | {c.MedianProcessCpuMicrosecondsPerOp:0.0} | {(c.System == ReportBuilder.Baseline ? "" : ReadmeTable.DifferenceWithInterval(c.CpuOverMicroseconds, "µs"))} | {c.Errors} | {ReadmeTable.Number(Stats.Percentile(c.OpsPerSecondByRound, 0.1))}–{ReadmeTable.Number(Stats.Percentile(c.OpsPerSecondByRound, 0.9))} |");
        }

        s.AppendLine();
    }

    private static void Throughput(StringBuilder s, BenchReport r, ThroughputReport tp)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("## Throughput");
        s.AppendLine();
        s.AppendLine(inv, $"One local 1+2 cluster with `pgbench -i -s {r.Parameters.PgbenchScale}` ({BenchCluster.Accounts(r.Parameters.PgbenchScale):#,0} accounts; loaded and replicated in {tp.PgbenchLoadSeconds:0} s). {r.Parameters.Rounds} rounds; in each, for every workload and number of callers, after an unmeasured {ThroughputComparison.Ramp.TotalSeconds:0.#} s ramp, the {tp.Systems.Count} systems one after the other (a Latin square: the first system moves by one per round and per cell), each {r.Parameters.WarmupSeconds:0.##} s warm-up then {r.Parameters.DurationSeconds:0.#} s measured. Medians over rounds; ratios are the median of same-round ratios, with their 95% confidence interval where the rounds are enough to bound it.");
        s.AppendLine();
        s.AppendLine("Systems:");
        foreach (var (key, label) in tp.Systems)
            s.AppendLine(inv, $"- `{key}`: {label}");
        s.AppendLine();
        foreach (var workload in Workload.All)
        {
            var cells = tp.Cells.Where(c => c.Workload == workload.Key).OrderBy(c => c.Callers).ThenBy(c => SystemOrder(c.System)).ToList();
            if (cells.Count == 0)
                continue;
            s.AppendLine(inv, $"### {workload.Label}");
            s.AppendLine();
            s.AppendLine("| callers | system | ops/s (median) | ÷ Npgsql | p50 ms | p99 ms | reads on standbys | n1's part of them | errors | ops/s per round |");
            s.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var c in cells)
            {
                s.AppendLine(inv,
                    $"| {c.Callers} | {c.System} | {ReadmeTable.Number(c.MedianOpsPerSecond)} | {ReadmeTable.RatioWithInterval(c.RatioToNpgsql)} | {c.MedianP50Ms:0.000} | {c.MedianP99Ms:0.000} | {ReadmeTable.Share(c.StandbyReadShare)} | {ReadmeTable.Share(c.FirstStandbyShare)} | {c.Errors} | {string.Join(", ", c.OpsPerSecondByRound.Select(ReadmeTable.Number))} |");
            }

            s.AppendLine();
        }

        var errors = tp.Measurements.Where(m => m.ErrorSamples.Count > 0).ToList();
        if (errors.Count > 0)
        {
            s.AppendLine("Errors seen (samples):");
            s.AppendLine();
            foreach (var m in errors)
                s.AppendLine(inv, $"- {m.System}, {m.Workload} x{m.Callers}, round {m.Round}: {string.Join(" / ", m.ErrorSamples)}");
            s.AppendLine();
        }
    }

    private static void Failover(StringBuilder s, FailoverReport fo)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("## Failover");
        s.AppendLine();
        s.AppendLine(inv, $"Each trial: a fresh 1+2 cluster, {Comparison.Failover.FailoverTrial.Writers} writers updating rows in a closed loop through the system; after 1–2 s (random) the primary is stopped with SIGQUIT (`pg_ctl -m immediate`). Measured: from the stop to the end of the first write that succeeded and had started after the old postmaster was gone. Trials alternate between the systems.");
        s.AppendLine();
        s.AppendLine("| system | trials | with a write | min | median (95% CI) | max | failed writes (all trials) | promotion |");
        s.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var x in fo.Systems)
            s.AppendLine(inv, $"| {x.Label} | {x.Trials} | {x.WithWrite} | {ReportBuilder.Ms(x.MinMs)} | {ReportBuilder.MsWithInterval(x.Median)} | {ReportBuilder.Ms(x.MaxMs)} | {x.FailedWrites} | {x.Promotion} |");
        s.AppendLine();
        s.AppendLine("| trial | system | first write after | stop took | writes before | failed writes | promoted | note |");
        s.AppendLine("|---:|---|---:|---:|---:|---:|---|---|");
        foreach (var t in fo.Trials)
            s.AppendLine(inv, $"| {t.Trial} | {t.System} | {ReportBuilder.Ms(t.Milliseconds)} | {t.StopMilliseconds:0} ms | {t.WritesBefore} | {t.Errors} | {t.PromotedNode ?? "?"} | {t.Note ?? ""} |");
        s.AppendLine();
        var samples = fo.Trials.SelectMany(t => t.ErrorSamples.Select(e => (t.System, Error: e))).Distinct().Take(12).ToList();
        if (samples.Count > 0)
        {
            s.AppendLine("What the failed writes said (samples):");
            s.AppendLine();
            foreach (var (system, error) in samples)
                s.AppendLine(inv, $"- {system}: {error.ReplaceLineEndings(" ")}");
            s.AppendLine();
        }
    }

    private static void Micro(StringBuilder s, MicroReport mi)
    {
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("## Micro benchmarks");
        s.AppendLine();
        s.AppendLine(inv, $"{mi.Job}.");
        s.AppendLine();
        s.AppendLine("| benchmark | parameters | mean ns/op | stddev | allocated B/op |");
        s.AppendLine("|---|---|---:|---:|---:|");
        foreach (var f in mi.Figures)
            s.AppendLine(inv, $"| {f.Type}.{f.Method}{(f.Description != f.Method ? $" ({f.Description})" : "")}{(f.Baseline ? " (baseline)" : "")} | {f.Parameters} | {f.MeanNs:0.0} | {f.StdDevNs:0.0} | {f.AllocatedBytes} |");
        s.AppendLine();
    }

    private static int SystemOrder(string key) => key switch
    {
        "npgsql" => 0,
        "routing1" => 1,
        "multihost" => 2,
        "pgpool" => 3,
        "routing" => 4,
        _ => 5,
    };
}
