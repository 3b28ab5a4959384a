using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Benchmarks.Comparison.Failover;
using RoutingDataSource.Benchmarks.Comparison.Results;

namespace RoutingDataSource.Benchmarks.Comparison.Switchover;

/// <summary>What <c>./build.sh bench switchover</c> measured, its medians with their 95% intervals and the targets' verdicts.</summary>
internal sealed record SwitchoverReport
{
    /// <summary>Issue 22's targets.</summary>
    public const double UnavailabilityLimitMs = 1000;

    public required string Command { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset FinishedAt { get; init; }
    public required MachineInfo Machine { get; init; }
    public required double[] LoadAverageAtStart { get; init; }
    public required double[] LoadAverageAtEnd { get; init; }
    public required Estimate LongestGapMs { get; init; }
    public required Estimate FirstNewWriteMs { get; init; }
    public required Estimate RequestMs { get; init; }
    public required Estimate StreamsAfterMs { get; init; }
    public required long Lost { get; init; }
    public required int Rewound { get; init; }
    public required int Failed { get; init; }
    public required IReadOnlyList<SwitchoverTrialRecord> Trials { get; init; }

    /// <summary>The targets, one line each, with their verdicts.</summary>
    public required IReadOnlyList<string> Summary { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static SwitchoverReport Build(string command, DateTimeOffset started, DateTimeOffset finished, MachineInfo machine, double[] loadAtStart, IReadOnlyList<SwitchoverTrialRecord> trials)
    {
        var ok = trials.Where(t => t.Succeeded).ToList();
        Estimate Of(Func<SwitchoverTrialRecord, double?> figure) => Stats.MedianWithInterval(ok.Select(t => figure(t) ?? double.NaN));
        var gap = Of(t => t.LongestGapMs);
        var lost = trials.Sum(t => t.Lost);
        var failed = trials.Count - ok.Count;
        var rewound = ok.Count(t => t.Rewound is true);
        var end = MachineInfo.LoadAverage();
        var verdict = gap.Below(UnavailabilityLimitMs);
        return new SwitchoverReport
        {
            Command = command,
            StartedAt = started,
            FinishedAt = finished,
            Machine = machine,
            LoadAverageAtStart = loadAtStart,
            LoadAverageAtEnd = [end.One, end.Five, end.Fifteen],
            LongestGapMs = gap,
            FirstNewWriteMs = Of(t => t.FirstNewWriteMs),
            RequestMs = Of(t => t.RequestMs),
            StreamsAfterMs = Of(t => t.StreamsAfterMs),
            Lost = lost,
            Rewound = rewound,
            Failed = failed,
            Trials = trials,
            Summary =
            [
                $"target {(lost == 0 && failed == 0 ? "met   " : "MISSED")} lost: 0 acknowledged writes lost; measured {lost} in {trials.Count} switchovers ({failed} failed)",
                $"target {Verdict(verdict)} write unavailability: median longest write gap <= {UnavailabilityLimitMs:0} ms (95% CI wholly below); measured {ReportBuilder.MsWithInterval(gap)}",
                $"target {(rewound == 0 && failed == 0 ? "met   " : "MISSED")} no rewind: every old primary streams from the new one without pg_rewind; measured {rewound} rewound",
            ],
        };
    }

    private static string Verdict(TargetVerdict v) => v switch
    {
        TargetVerdict.Met => "met   ",
        TargetVerdict.Missed => "MISSED",
        _ => "undecided",
    };

    /// <summary>Writes <c>&lt;date&gt;-&lt;host&gt;-switchover.md</c> and <c>.json</c> (a free name: none is overwritten); returns the .md path.</summary>
    public static string Write(SwitchoverReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        var baseName = ResultsFiles.FreeBaseName(directory, string.Create(CultureInfo.InvariantCulture, $"{report.StartedAt:yyyy-MM-dd}-{ResultsWriter.Slug(report.Machine.HostName)}-switchover"));
        File.WriteAllText(Path.Combine(directory, baseName + ".json"), JsonSerializer.Serialize(report, Json) + "\n");
        var md = Path.Combine(directory, baseName + ".md");
        File.WriteAllText(md, Markdown(report, baseName));
        return md;
    }

    private static string Markdown(SwitchoverReport r, string baseName)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(inv, $"# Planned switchover {r.StartedAt:yyyy-MM-dd HH:mm zzz}, {r.Machine.HostName}");
        s.AppendLine();
        s.AppendLine(inv, $"Command: `{r.Command}` (from the repository root; {(r.FinishedAt - r.StartedAt).TotalMinutes:0.0} min). Every figure is also in [`{baseName}.json`]({baseName}.json).");
        s.AppendLine();
        s.AppendLine(inv, $"- {r.Machine.Hardware()}; {r.Machine.DotNet}; Npgsql {r.Machine.Npgsql}; {r.Machine.PostgreSql}; commit {r.Machine.GitCommit}");
        s.AppendLine(inv, $"- Load average at the start {string.Join(" / ", r.LoadAverageAtStart.Select(x => x.ToString("0.00", inv)))}, at the end {string.Join(" / ", r.LoadAverageAtEnd.Select(x => x.ToString("0.00", inv)))} (1 / 5 / 15 min). The client, the coordinator, the three agents and the three servers share these {r.Machine.Cores} cores.");
        s.AppendLine();
        s.AppendLine(inv, $"One 1+2 cluster with synchronous replication (`ANY 1 (n1, n2)`), a node agent (`routing-coordinator agent`, a separate process) beside each server, one coordinator in-process with default settings, {WriteLoad.Writers} writers inserting new ids through `PgRoutingDataSource` (default options) in a closed loop. {r.Trials.Count} switchovers back and forth between n0 and n1, each asked for with `POST /switchover` (what `routing-coordinator switchover --to NAME` sends) after 1–1.5 s of writes. Per switchover: the longest gap between two acknowledged writes in a row from the last acknowledged before the request to the first acknowledged by the new primary (`inet_server_port()` of the server that made it); the time from the request to that first write; the ids of every write acknowledged so far looked up on the new primary (lost = not there); when the old primary was seen streaming from the new one (`pg_stat_replication` there) and whether its agent ran `pg_rewind`. Medians with their distribution-free 95% interval (none below 6 trials).");
        s.AppendLine();
        s.AppendLine("## Targets");
        s.AppendLine();
        foreach (var line in r.Summary)
            s.AppendLine(inv, $"- {line}");
        s.AppendLine();
        s.AppendLine("| figure | median (95% CI) |");
        s.AppendLine("|---|---:|");
        s.AppendLine(inv, $"| longest gap between acknowledged writes | {ReportBuilder.MsWithInterval(r.LongestGapMs)} |");
        s.AppendLine(inv, $"| request to the first write acknowledged by the new primary | {ReportBuilder.MsWithInterval(r.FirstNewWriteMs)} |");
        s.AppendLine(inv, $"| request to the coordinator's answer | {ReportBuilder.MsWithInterval(r.RequestMs)} |");
        s.AppendLine(inv, $"| request to the old primary streaming from the new one | {ReportBuilder.MsWithInterval(r.StreamsAfterMs)} |");
        s.AppendLine();
        s.AppendLine("| # | from → to | ok | answer | longest write gap | first write on the new primary | acknowledged so far | lost | failed writes | old primary streams after | rewound | its agent's report | note |");
        s.AppendLine("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
        foreach (var t in r.Trials)
        {
            s.AppendLine(inv,
                $"| {t.Trial} | {t.From} → {t.To} | {(t.Succeeded ? "yes" : "**no**")} | {ReportBuilder.Ms(t.RequestMs)} | {ReportBuilder.Ms(t.LongestGapMs)} | {ReportBuilder.Ms(t.FirstNewWriteMs)} | {t.Acknowledged} | {t.Lost} | {t.FailedWrites} | {ReportBuilder.Ms(t.StreamsAfterMs)} | {(t.Rewound is { } w ? (w ? "**yes**" : "no") : "—")} | {t.AgentReport ?? ""} | {t.Note ?? ""} |");
        }

        s.AppendLine();
        return s.ToString();
    }
}
