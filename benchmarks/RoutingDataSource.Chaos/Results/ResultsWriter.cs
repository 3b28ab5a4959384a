using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Chaos.Results;

/// <summary>
/// Writes <c>&lt;date&gt;-chaos.md</c> and <c>.json</c> into the results directory; a name already taken that day gets
/// <c>-2</c>, <c>-3</c>... so that no earlier result is overwritten.
/// </summary>
internal static class ResultsWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes both files; returns the markdown file's path.</summary>
    public static string Write(ChaosReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        var baseName = ResultsFiles.FreeBaseName(directory, string.Create(CultureInfo.InvariantCulture, $"{report.StartedAt:yyyy-MM-dd}-chaos"));
        File.WriteAllText(Path.Combine(directory, baseName + ".json"), JsonSerializer.Serialize(report, Json) + "\n");
        var md = Path.Combine(directory, baseName + ".md");
        File.WriteAllText(md, Markdown(report, baseName));
        return md;
    }

    /// <summary>The per-fault table alone (also printed at the end of a run).</summary>
    public static string FaultTable(ChaosReport r)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine("| # | fault | target | at | promoted | failover | promote requests | next leader | write gap | writes ok / failed | failed reads | errors by type | rejoin | whole after | thread-pool delay | note |");
        s.AppendLine("|---:|---|---|---:|---|---:|---:|---|---:|---:|---:|---|---|---:|---:|---|");
        foreach (var f in r.Faults)
        {
            var x = f.Fault;
            var errors = f.Errors.Count == 0 ? "—" : string.Join("; ", f.Errors.Select(e => $"{e.Key} ×{e.Value}"));
            s.AppendLine(inv,
                $"| {x.Number} | {x.Kind} | {x.Target} | {x.Injected:0.0} s | {x.Promoted ?? "—"} | {(x.FailoverSeconds is { } fo ? $"{fo:0.00} s" : "—")} | {x.Promotions} | {(x.NewLeader is { } nl ? $"{nl} after {x.TakeoverSeconds:0.00} s" : "—")} | {(f.NoWriteAfter ? "≥ " : "")}{f.WriteGapSeconds:0.00} s | {f.AcknowledgedWrites} / {f.FailedWrites} | {f.FailedReads} | {errors} | {(x.Rejoin is { } j ? $"{j} ({x.RejoinSeconds:0.0} s)" : "—")} | {x.Recovered - x.Injected:0.0} s | {f.ThreadPoolDelaySeconds:0.00} s | {Cell(x.Note)} |");
        }

        return s.ToString();
    }

    private static string Markdown(ChaosReport r, string baseName)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(inv, $"# Chaos soak {r.StartedAt:yyyy-MM-dd HH:mm zzz}, seed {r.Seed}");
        s.AppendLine();
        s.AppendLine(inv, $"Command: `{r.Command}` (from the repository root; {(r.FinishedAt - r.StartedAt).TotalMinutes:0.0} min). Same fault sequence again: `{r.Reproduce}`. Every figure is also in [`{baseName}.json`]({baseName}.json).");
        s.AppendLine();
        s.AppendLine(inv, $"- Machine: {Machine(r.Machine)}. The client, the coordinator and the three servers share these {r.Machine.Cores} cores; the 1-minute load average was {r.LoadAverage[0]:0.0} when the soak started and {r.LoadAverage[1]:0.0} when it ended (other builds and test suites count).");
        s.AppendLine(inv, $"- Coordinators: **{r.Mode}**{(r.Coordinators > 1 ? " (c1, c2, c3 in-process, default `LeaseTtl` 5 s, key prefix `" + Cluster.ChaosCoordinators.Prefix + "`, each reaching etcd through a route of its own so that the leader alone can be cut off; a leader is killed as the HA tests kill one: its route cut, its guard's crash switch thrown, then stopped)" : " (`--coordinators 1`: no etcd, no coordinator or etcd faults)")}.");
        s.AppendLine("- Cluster: a synchronous 1+2 `LocalPgCluster` (`synchronous_standby_names = 'ANY 1 (n1, n2)'`, `wal_receiver_timeout = '2s'` and `wal_log_hints = on` on every node); the coordinators in-process with their defaults; one `PgRoutingDataSource` (weights n0 0, n1 1, n2 1; `HealthCheckInterval` 200 ms, everything else default). The data source, the coordinators and the standbys' replication each reach every server through a `FaultProxy` of their own.");
        s.AppendLine("- Workload: 4 workers doing bank transfers in `ds.ExecuteAsync` units (two UPDATEs of `accounts`, a `ledger` INSERT with a unique transfer id), 2 inserting unique ids one statement each (a plain INSERT; an `INSERT ... RETURNING` read through a reader), 2 reading `SELECT sum(balance) FROM accounts` outside transactions.");
        s.AppendLine(inv, $"- Faults ({r.Faults.Count} of {r.FaultsPlanned} planned, seeded): {string.Join(", ", r.Sequence)}. After each failover the old primary rejoined as a standby (pg_rewind, else a base backup) before the next fault.");
        s.AppendLine(inv, $"- Logs (client, coordinator, servers) and every operation: `{r.Artifacts}`.");
        if (r.HarnessError is { } he)
        {
            s.AppendLine();
            s.AppendLine(inv, $"**The harness failed:** {Cell(he)}");
        }

        s.AppendLine();
        s.AppendLine("## Checker");
        s.AppendLine();
        s.AppendLine(inv, $"`{r.Check.Line()}`");
        s.AppendLine();
        s.AppendLine("## Targets (issues 18 and 21)");
        s.AppendLine();
        s.AppendLine("| target | requirement | measured | |");
        s.AppendLine("|---|---|---|---|");
        foreach (var t in r.Targets)
            s.AppendLine(inv, $"| {t.Name} | {t.Requirement} | {Cell(t.Measured)} | {(t.Met ? "met" : "**missed**")} |");
        s.AppendLine();
        s.AppendLine("## Faults");
        s.AppendLine();
        s.AppendLine("Times are seconds since the soak started. Failover: from the fault to the (leading) coordinator naming the new primary. Promote requests: \"received promote request\" lines in the servers' logs from the fault to the cluster being whole again (one per failover is right). Next leader: after a leader fault, the coordinator that led next and when. Write gap: the longest time without an acknowledged write (any worker) from the last acknowledgement before the fault to the cluster being whole again (≥: none came in the window). Errors: operations that ended in that window. Thread-pool delay: the longest a work item queued to the client process's thread pool (which the data source, the in-process coordinator and the proxies share) waited to run in that window.");
        s.AppendLine();
        s.Append(FaultTable(r));
        s.AppendLine();
        s.AppendLine("## Operations");
        s.AppendLine();
        s.AppendLine("| operation: outcome | count |");
        s.AppendLine("|---|---:|");
        foreach (var (k, v) in r.Operations)
            s.AppendLine(inv, $"| {k} | {v} |");
        s.AppendLine();
        if (r.Check.MisuseByPattern.Count > 0)
        {
            s.AppendLine("Connection misuse and protocol desync texts (client log lines, and failed operations' exceptions):");
            s.AppendLine();
            foreach (var (k, v) in r.Check.MisuseByPattern)
                s.AppendLine(inv, $"- `{k}`: {v}");
            s.AppendLine();
        }

        s.AppendLine(inv, $"Client log: {r.ClientLogWarnings} warnings, {r.ClientLogErrors} errors. Longest wait of a thread-pool work item in the client process: {r.MaxThreadPoolDelaySeconds:0.00} s.");
        s.AppendLine();
        List("Lost writes (samples)", r.Check.LostSamples);
        List("Phantoms (samples)", r.Check.PhantomSamples);
        List("Replica differences", r.Check.ReplicaDifferences);
        List("Raw errors (first, with stack)", r.RawErrorSamples.Select(x => x.Length > 3000 ? x[..3000] + " ..." : x).ToList(), code: true);
        List("Client log lines showing misuse (samples)", r.LogSamples, code: true);
        return s.ToString();

        void List(string title, IReadOnlyList<string> items, bool code = false)
        {
            if (items.Count == 0)
                return;
            s.AppendLine(inv, $"### {title}");
            s.AppendLine();
            if (code)
            {
                s.AppendLine("```");
                foreach (var item in items)
                    s.AppendLine(item);
                s.AppendLine("```");
            }
            else
            {
                foreach (var item in items)
                    s.AppendLine(inv, $"- {Cell(item)}");
            }

            s.AppendLine();
        }
    }

    private static string Machine(MachineInfo m) =>
        $"{m.HostName}: {m.Hardware()}; {m.DotNet}; Npgsql {m.Npgsql}; {m.PostgreSql}; commit {m.GitCommit}";

    private static string Cell(string? text) => text is null ? "" : text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);
}
