using System.Globalization;
using System.Text;
using System.Text.Json;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison.Corpus;

/// <summary>The corpus part's figures per system, and the files they are written to.</summary>
internal sealed record CorpusReport(string Command, DateTimeOffset Finished, double[] Load, string CorpusPath, int Statements, int ReadOnly, int Refused,
    IReadOnlyList<SystemFigures> Systems)
{
    public static CorpusReport Build(CompareSettings settings, string path, IReadOnlyList<IGrouping<string, CorpusStatement>> files, IReadOnlyList<SystemRun> runs)
    {
        var statements = files.SelectMany(f => f).Where(s => s.Runs).ToList();
        var baseline = runs.Single(r => r.System == CorpusSystem.Primary);
        var figures = runs.Select(r => SystemFigures.Of(r, files, baseline)).ToList();
        var load = MachineInfo.LoadAverage();
        return new CorpusReport(settings.Command, DateTimeOffset.Now, [load.One, load.Five, load.Fifteen], path, statements.Count,
            statements.Count(s => s.ReadOnly), statements.Count(s => s.Refused), figures);
    }

    public string Markdown()
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"# Corpus replay, {Finished:yyyy-MM-dd HH:mm zzz}");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Command: `{Command}`. Load average at the end: {Load[0]:0.0} / {Load[1]:0.0} / {Load[2]:0.0} (a shared machine: counts, not timings).");
        s.AppendLine();
        s.Append(CultureInfo.InvariantCulture, $"PostgreSQL's regression suite from `{CorpusPath}`: {Statements} statements sent ({ReadOnly} read-only, {Refused} refused by a hot standby), ");
        s.AppendLine("each file in a fresh database made from the setup template, its statements in order on one connection, on a fresh statement-logging 1+2 cluster per system. "
            + "Where a statement ran comes from the servers' logs (`log_statement = 'all'`, the connection's application name in every line). "
            + "Misroute: a statement the corpus says a standby refuses, found in a standby's log. Read yield: the share of the read-only statements found in a standby's log and not in the primary's. "
            + "Routing-induced error: a statement that succeeds when the file is replayed straight on the primary (the baseline) and fails through the system.");
        s.AppendLine();
        s.AppendLine("| | misroutes | read yield | routing-induced errors | read yield by the data source's counters | succeeded, found in no log |");
        s.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var f in Systems.Where(f => f.System != CorpusSystem.Primary))
        {
            var counted = f.CountedReadOnly == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{(double)f.CountedOnStandby / f.CountedReadOnly:0.000} ({f.CountedOnStandby}/{f.CountedReadOnly})");
            s.AppendLine(CultureInfo.InvariantCulture, $"| {Label(f.System)} | {f.Misroutes} | {f.Yield:0.000} ({f.OnStandby}/{f.ReadOnly}) | {f.InducedErrors} | {counted} | {f.Unattributed} |");
        }
        s.AppendLine();
        var b = Systems.Single(f => f.System == CorpusSystem.Primary);
        s.AppendLine(CultureInfo.InvariantCulture, $"Baseline (straight to the primary): {b.Errors} statements failed ({b.DifferFromCorpus} outcomes differ from the corpus's primary verdict: the setup's COPY of the suite's data files is not replayed, and global objects such as roles carry over between files as in the suite), {b.SetupErrors} setup statements failed.");
        foreach (var f in Systems.Where(f => f.System != CorpusSystem.Primary))
        {
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"## {Label(f.System)}");
            s.AppendLine();
            if (f.PrimaryReasons.Count > 0)
            {
                s.AppendLine("Read-only statements served by the primary, by reason (the data source's own view before each statement):");
                s.AppendLine();
                s.AppendLine("| reason | statements |");
                s.AppendLine("|---|---:|");
                foreach (var (reason, count) in f.PrimaryReasons)
                    s.AppendLine(CultureInfo.InvariantCulture, $"| {reason.Replace("|", "\\|", StringComparison.Ordinal)} | {count} |");
                s.AppendLine();
            }
            Examples(s, "Misroutes", f.MisrouteExamples);
            Examples(s, "Routing-induced errors (outcome through the system, statement)", f.InducedErrorExamples);
            Examples(s, "Succeeded but found in no server's log", f.UnattributedExamples);
        }
        return s.ToString();
    }

    private static void Examples(StringBuilder s, string title, IReadOnlyList<string> examples)
    {
        if (examples.Count == 0)
            return;
        s.Append(title).Append(" (first ").Append(examples.Count.ToString(CultureInfo.InvariantCulture)).AppendLine("):");
        s.AppendLine();
        foreach (var e in examples)
            s.AppendLine(CultureInfo.InvariantCulture, $"- {e}");
        s.AppendLine();
    }

    private static string Label(CorpusSystem system) => system switch
    {
        CorpusSystem.RoutingDataSource => "RoutingDataSource, defaults (ReadYourWrites = Connection)",
        CorpusSystem.RoutingDataSourceNoReadYourWrites => "RoutingDataSource, ReadYourWrites = None",
        CorpusSystem.Pgpool => "Pgpool-II 4.3 (as in the throughput part)",
        _ => "straight to the primary",
    };

    /// <summary>
    /// Writes benchmarks/results/&lt;date&gt;-corpus[-systems].md and .json, or the first free <c>-2</c>, <c>-3</c>... name
    /// when a run of the same day already wrote them; returns the markdown's path.
    /// </summary>
    public string Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var systems = Environment.GetEnvironmentVariable("CORPUS_SYSTEMS") is { Length: > 0 } only ? "-" + only.Replace(',', '-').ToLowerInvariant() : "";
        var stem = Path.Combine(directory, ResultsFiles.FreeBaseName(directory, $"{Finished:yyyy-MM-dd}-corpus{systems}"));
        File.WriteAllText(stem + ".md", Markdown());
        File.WriteAllText(stem + ".json", JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        return stem + ".md";
    }
}

/// <summary>One system's figures.</summary>
internal sealed record SystemFigures(CorpusSystem System, int Misroutes, int ReadOnly, int OnStandby, double Yield, int InducedErrors, int Errors,
    int DifferFromCorpus, int Unattributed, int SetupErrors, IReadOnlyList<KeyValuePair<string, int>> PrimaryReasons,
    IReadOnlyList<string> MisrouteExamples, IReadOnlyList<string> InducedErrorExamples, IReadOnlyList<string> UnattributedExamples,
    int CountedReadOnly, int CountedOnStandby)
{
    public static SystemFigures Of(SystemRun run, IReadOnlyList<IGrouping<string, CorpusStatement>> files, SystemRun baseline)
    {
        var placed = Attribute(run, files);
        int misroutes = 0, readOnly = 0, onStandby = 0, induced = 0, errors = 0, differ = 0, unattributed = 0;
        var misrouteExamples = new List<string>();
        var inducedExamples = new List<string>();
        var unattributedExamples = new List<string>();
        foreach (var s in files.SelectMany(f => f).Where(s => s.Runs))
        {
            var outcome = run.Outcomes.GetValueOrDefault(s, "not run");
            var nodes = placed.GetValueOrDefault(s) ?? [];
            var standby = nodes.Any(n => n != run.PrimaryName);
            if (outcome != "ok")
                errors++;
            if (outcome != s.Primary && !(outcome.StartsWith("error", StringComparison.Ordinal) && s.Primary.StartsWith("error", StringComparison.Ordinal)))
                differ++;
            if (outcome == "ok" && nodes.Count == 0)
            {
                unattributed++;
                if (unattributedExamples.Count < 10)
                    unattributedExamples.Add($"{s.File}:{s.Index} `{Short(s.Sql)}`");
            }
            if (s.Refused && standby)
            {
                misroutes++;
                if (misrouteExamples.Count < 20)
                    misrouteExamples.Add($"{s.File}:{s.Index} `{Short(s.Sql)}` (corpus: {s.Standby}; here {outcome})");
            }
            if (s.ReadOnly)
            {
                readOnly++;
                if (standby && !nodes.Contains(run.PrimaryName))
                    onStandby++;
            }
            if (run.System != CorpusSystem.Primary && outcome != "ok" && baseline.Outcomes.GetValueOrDefault(s) == "ok")
            {
                induced++;
                if (inducedExamples.Count < 30)
                    inducedExamples.Add($"{s.File}:{s.Index} {outcome} `{Short(s.Sql)}`");
            }
        }
        var reasons = run.Placements.Values.Where(v => v != "standby").GroupBy(v => v).Select(g => new KeyValuePair<string, int>(g.Key, g.Count()))
            .OrderByDescending(p => p.Value).ToList();
        return new SystemFigures(run.System, misroutes, readOnly, onStandby, readOnly == 0 ? 0 : (double)onStandby / readOnly, induced, errors, differ,
            unattributed, run.SetupErrors, reasons, misrouteExamples, inducedExamples, unattributedExamples,
            run.Placements.Count, run.Placements.Values.Count(v => v == "standby"));
    }

    private static string Short(string sql)
    {
        var one = string.Join(' ', sql.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)).Replace("`", "'", StringComparison.Ordinal);
        return one.Length <= 120 ? one : one[..117] + "...";
    }

    // Each file's statements, in order, against each server's log entries of that file's connection (in order too):
    // per server, the longest order-preserving alignment of the statements' texts with the entries (the data source's
    // replays and guards, or pgpool's own queries, come in between and stay unmatched). A greedy scan would take a
    // repeated text's later entry for an earlier statement that ran elsewhere and lose its place for the statements
    // in between.
    private static Dictionary<CorpusStatement, List<string>> Attribute(SystemRun run, IReadOnlyList<IGrouping<string, CorpusStatement>> files)
    {
        var placed = new Dictionary<CorpusStatement, List<string>>();
        foreach (var file in files)
        {
            var app = "c:" + file.Key;
            var statements = file.Where(s => s.Runs).ToArray();
            var texts = statements.Select(s => ServerLogs.Normalize(s.Sql)).ToArray();
            foreach (var (node, byApp) in run.Logs)
            {
                if (!byApp.TryGetValue(app, out var entries))
                    continue;
                foreach (var i in Align(texts, entries))
                    (placed.TryGetValue(statements[i], out var list) ? list : placed[statements[i]] = []).Add(node);
            }
        }
        return placed;
    }

    // The indexes of a's items matched by a longest common subsequence of a and b (ties: the later entry).
    internal static List<int> Align(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        int n = a.Count, m = b.Count, w = m + 1;
        var lengths = new int[(n + 1) * w];
        for (var i = 1; i <= n; i++)
        {
            for (var j = 1; j <= m; j++)
            {
                lengths[i * w + j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal)
                    ? lengths[(i - 1) * w + j - 1] + 1
                    : Math.Max(lengths[(i - 1) * w + j], lengths[i * w + j - 1]);
            }
        }
        var matched = new List<int>();
        for (int i = n, j = m; i > 0 && j > 0;)
        {
            if (string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal) && lengths[i * w + j] == lengths[(i - 1) * w + j - 1] + 1)
            {
                matched.Add(i - 1);
                i--;
                j--;
            }
            else if (lengths[(i - 1) * w + j] >= lengths[i * w + j - 1])
                i--;
            else
                j--;
        }
        matched.Reverse();
        return matched;
    }
}
