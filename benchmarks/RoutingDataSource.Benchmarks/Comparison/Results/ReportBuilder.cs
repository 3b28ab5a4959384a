using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Failover;
using RoutingDataSource.Benchmarks.Comparison.Micro;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Workloads;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>Turns the raw measurements into medians, ratios against plain Npgsql and target checks.</summary>
internal static class ReportBuilder
{
    public const string Baseline = "npgsql";
    public const string Ours = "routing";
    public const string OursHa = "routing-ha";
    public const string OursOnOneServer = "routing1";
    public const string OursTwoToOne = "routing21";
    public const double OverheadTarget = 0.97;

    /// <summary>Issue 19: the median of the paired ratios at least this (and its interval from <see cref="OverheadTarget"/> up).</summary>
    public const double OverheadGoalMedian = 0.99;

    /// <summary>Issue 19: allocation per statement within 5% of plain Npgsql's.</summary>
    public const double AllocationLimit = 1.05;
    public const double MultiHostTarget = 1.0;
    public const double PgpoolTarget = 1.5;

    /// <summary>Issue 20: a tenant session (SET app.tenant_id, then reads and writes) keeps at least this share of its reads on standbys.</summary>
    public const double TenantStandbyShare = 0.95;
    public const double FailoverTargetMs = 3000;

    public static BenchReport Build(CompareSettings settings, DateTimeOffset started, MachineInfo machine, double[] loadAtStart,
        ThroughputRun? throughput, FailoverRun? failover, OverheadRun? overhead, MicroRun? micro)
    {
        var cells = throughput is null ? [] : Cells(throughput.Measurements);
        var measurements = throughput?.Measurements ?? [];
        var others = measurements.Select(m => m.Cpu.Others).Where(x => !double.IsNaN(x)).ToList();
        var load = new LoadConditions
        {
            LoadAverageAtStart = loadAtStart,
            OthersCpuMedian = others.Count > 0 ? Stats.Median(others) : null,
            OthersCpuMax = others.Count > 0 ? others.Max() : null,
            OursCpuMedian = measurements.Count > 0 ? Stats.Median(measurements.Select(m => m.Cpu.Ours)) : null,
            Shared = others.Count > 0 ? Stats.Median(others) > 0.10 : loadAtStart[0] > 0.7,
        };
        var failoverReport = failover is null ? null : Failover(failover);
        var microReport = micro is null ? null : Micro(micro);
        var overheadReport = overhead is null ? null : Overhead(overhead);
        return new BenchReport
        {
            StartedAt = started,
            FinishedAt = DateTimeOffset.Now,
            Command = settings.Command,
            Machine = machine,
            Load = load,
            Parameters = new RunParameters
            {
                Rounds = settings.Rounds,
                WarmupSeconds = settings.Warmup.TotalSeconds,
                DurationSeconds = settings.Duration.TotalSeconds,
                Callers = settings.Callers,
                PgbenchScale = settings.Scale,
                FailoverTrials = settings.FailoverTrials,
                OverheadRounds = settings.OverheadRounds,
                OverheadDurationSeconds = settings.OverheadDuration.TotalSeconds,
                FullRun = settings.IsFullRun,
                ServerCpuCores = settings.ServerCpu,
            },
            Throughput = throughput is null ? null : new ThroughputReport
            {
                Systems = throughput.Labels,
                Cells = cells,
                Measurements = throughput.Measurements,
                PgbenchLoadSeconds = throughput.LoadTime.TotalSeconds,
                PgpoolConfig = throughput.PgpoolConfig,
            },
            Failover = failoverReport,
            Overhead = overheadReport,
            Micro = microReport,
            Targets = Targets(cells, measurements, failoverReport, overheadReport),
        };
    }

    private static List<ThroughputCell> Cells(IReadOnlyList<Measurement> measurements)
    {
        var cells = new List<ThroughputCell>();
        foreach (var group in measurements.GroupBy(m => (m.Workload, m.Callers, m.System)))
        {
            var rounds = group.OrderBy(m => m.Round).ToList();
            var shares = rounds.Where(m => m.StandbyReadShare is not null).Select(m => m.StandbyReadShare!.Value).ToList();
            var firstShares = rounds.Where(m => m.FirstStandbyShare is not null).Select(m => m.FirstStandbyShare!.Value).ToList();
            cells.Add(new ThroughputCell
            {
                Workload = group.Key.Workload,
                Callers = group.Key.Callers,
                System = group.Key.System,
                MedianOpsPerSecond = Stats.Median(rounds.Select(m => m.OpsPerSecond)),
                MedianP50Ms = Stats.Median(rounds.Select(m => m.P50Ms)),
                MedianP99Ms = Stats.Median(rounds.Select(m => m.P99Ms)),
                Errors = rounds.Sum(m => m.Errors),
                StandbyReadShare = shares.Count > 0 ? Stats.Median(shares) : null,
                FirstStandbyShare = firstShares.Count > 0 ? Stats.Median(firstShares) : null,
                RatioToNpgsql = PairedRatio(measurements, group.Key.Workload, group.Key.Callers, Baseline, group.Key.System),
                OpsPerSecondByRound = rounds.Select(m => m.OpsPerSecond).ToList(),
            });
        }

        return cells;
    }

    /// <summary>
    /// Median over rounds of ours (or <paramref name="system"/>) ÷ another system, both measured in the same round, with
    /// its 95% confidence interval.
    /// </summary>
    public static Estimate PairedRatio(IReadOnlyList<Measurement> measurements, string workload, int callers, string other, string system = Ours) =>
        Stats.MedianWithInterval(measurements.Where(m => m.System == system && m.Workload == workload && m.Callers == callers)
            .Select(m => measurements.FirstOrDefault(o => o.System == other && o.Workload == workload && o.Callers == callers && o.Round == m.Round) is { OpsPerSecond: > 0 } o
                ? m.OpsPerSecond / o.OpsPerSecond
                : double.NaN));

    private static FailoverReport Failover(FailoverRun run)
    {
        FailoverSummary Summary(string system, string label, string promotion, IReadOnlyList<FailoverTrialRecord> trials)
        {
            var times = trials.Where(t => t.Milliseconds is not null).Select(t => t.Milliseconds!.Value).ToList();
            return new FailoverSummary
            {
                System = system,
                Label = label,
                Promotion = promotion,
                Trials = trials.Count,
                WithWrite = times.Count,
                MinMs = times.Count > 0 ? times.Min() : null,
                MedianMs = times.Count > 0 ? Stats.Median(times) : null,
                MaxMs = times.Count > 0 ? times.Max() : null,
                FailedWrites = trials.Sum(t => t.Errors),
                Median = trials.Count > 0 ? Stats.MedianWithInterval(trials.Select(t => t.Milliseconds ?? double.PositiveInfinity)) : null,
            };
        }

        return new FailoverReport
        {
            Systems =
            [
                Summary(Ours, "RoutingDataSource, 1 coordinator", run.RoutingPromotion, run.Routing),
                Summary(OursHa, "RoutingDataSource, 3 coordinators (HA on etcd)", run.RoutingHaPromotion, run.RoutingHa),
                Summary("pgpool", "Pgpool-II 4.3", "pgpool: health check every 1 s (max_retries 0) and failover_on_backend_error; failover_command promotes the most advanced standby", run.Pgpool),
            ],
            Trials = run.Routing.Concat(run.RoutingHa).Concat(run.Pgpool).OrderBy(t => t.Trial).ThenBy(t => t.System).ToList(),
        };
    }

    private static OverheadReport Overhead(OverheadRun run)
    {
        var cells = new List<OverheadCell>();
        foreach (var group in run.Measurements.GroupBy(m => (m.Callers, m.System)))
        {
            var rounds = group.OrderBy(m => m.Round).ToList();
            var ratios = new List<double>();
            var cpuOver = new List<double>();
            var allocated = new List<double>();
            foreach (var m in rounds)
            {
                var b = run.Measurements.FirstOrDefault(b => b.System == Baseline && b.Callers == m.Callers && b.Round == m.Round);
                ratios.Add(b is { OpsPerSecond: > 0 } ? m.OpsPerSecond / b.OpsPerSecond : double.NaN);
                cpuOver.Add(b is null ? double.NaN : m.ProcessCpuMicrosecondsPerOp - b.ProcessCpuMicrosecondsPerOp);
                allocated.Add(b is { AllocatedBytesPerOp: > 0 } ? m.AllocatedBytesPerOp / b.AllocatedBytesPerOp : double.NaN);
            }
            cells.Add(new OverheadCell
            {
                Callers = group.Key.Callers,
                System = group.Key.System,
                MedianOpsPerSecond = Stats.Median(rounds.Select(m => m.OpsPerSecond)),
                RatioToNpgsql = Stats.MedianWithInterval(ratios),
                MedianAllocatedBytesPerOp = Stats.Median(rounds.Select(m => m.AllocatedBytesPerOp)),
                MedianProcessCpuMicrosecondsPerOp = Stats.Median(rounds.Select(m => m.ProcessCpuMicrosecondsPerOp)),
                CpuOverMicroseconds = Stats.MedianWithInterval(cpuOver),
                AllocatedRatioToNpgsql = Stats.MedianWithInterval(allocated),
                Errors = rounds.Sum(m => m.Errors),
                OpsPerSecondByRound = rounds.Select(m => m.OpsPerSecond).ToList(),
            });
        }

        return new OverheadReport
        {
            Statement = OverheadComparison.Statement,
            Cells = cells.OrderBy(c => c.Callers).ThenBy(c => c.System == Baseline ? 0 : 1).ToList(),
            Measurements = run.Measurements,
        };
    }

    private static MicroReport Micro(MicroRun run) => new() { Job = run.Job, Figures = run.Figures };

    private static List<TargetCheck> Targets(List<ThroughputCell> cells, IReadOnlyList<Measurement> measurements, FailoverReport? failover, OverheadReport? overhead)
    {
        var checks = new List<TargetCheck>();
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        foreach (var cell in overhead?.Cells.Where(c => c.System == OursOnOneServer) ?? [])
        {
            checks.Add(new TargetCheck(
                $"overhead, {OverheadComparison.Statement} x{cell.Callers}",
                $"ours (one backend) ÷ plain Npgsql ≥ {F(OverheadTarget)}",
                Measured(cell.RatioToNpgsql),
                cell.RatioToNpgsql.AtLeast(OverheadTarget)));
            checks.Add(new TargetCheck(
                $"overhead goal, {OverheadComparison.Statement} x{cell.Callers}",
                $"ours (one backend) ÷ plain Npgsql: median ≥ {F(OverheadGoalMedian)}, 95% CI from ≥ {F(OverheadTarget)}",
                Measured(cell.RatioToNpgsql),
                !cell.RatioToNpgsql.Bounded ? TargetVerdict.Undecided
                    : cell.RatioToNpgsql.Median >= OverheadGoalMedian && cell.RatioToNpgsql.Low >= OverheadTarget ? TargetVerdict.Met : TargetVerdict.Missed));
            if (cell.AllocatedRatioToNpgsql is { } allocated)
            {
                checks.Add(new TargetCheck(
                    $"allocation, {OverheadComparison.Statement} x{cell.Callers}",
                    $"ours (one backend) ÷ plain Npgsql, bytes per statement < {F(AllocationLimit)}",
                    Measured(allocated),
                    allocated.Below(AllocationLimit)));
            }
        }

        // The library's overhead: both on the one server (the primary), so nothing but the routing layer differs.
        foreach (var cell in cells.Where(c => c.System == OursOnOneServer).OrderBy(c => WorkloadOrder(c.Workload)).ThenBy(c => c.Callers))
        {
            checks.Add(new TargetCheck(
                $"overhead on one server, {cell.Workload} x{cell.Callers}",
                $"ours (primary only) ÷ plain Npgsql ≥ {F(OverheadTarget)}",
                Measured(cell.RatioToNpgsql),
                cell.RatioToNpgsql.AtLeast(OverheadTarget)));
        }

        foreach (var cell in cells.Where(c => c.System == Ours && c.Workload == Workload.Tenant.Key).OrderBy(c => c.Callers))
        {
            checks.Add(new TargetCheck($"tenant sessions x{cell.Callers}: reads on standbys", $"share ≥ {F(TenantStandbyShare)}",
                cell.StandbyReadShare is { } share ? F(share) : "—",
                cell.StandbyReadShare is { } s ? (s >= TenantStandbyShare ? TargetVerdict.Met : TargetVerdict.Missed) : TargetVerdict.Undecided));
            checks.Add(new TargetCheck($"tenant sessions x{cell.Callers} vs plain Npgsql on the primary", "ours ÷ Npgsql ≥ 1.00",
                Measured(cell.RatioToNpgsql), cell.RatioToNpgsql.AtLeast(1.0)));
        }

        foreach (var cell in cells.Where(c => c.System == Ours && c.Workload == Workload.ReadOnly.Key).OrderBy(c => c.Callers))
        {
            if (cells.Any(c => c.System == "multihost" && c.Workload == cell.Workload && c.Callers == cell.Callers))
            {
                var r = PairedRatio(measurements, cell.Workload, cell.Callers, "multihost");
                checks.Add(new TargetCheck($"read-only x{cell.Callers} vs Npgsql multi-host", $"ours ÷ multi-host ≥ {F(MultiHostTarget)}", Measured(r), r.AtLeast(MultiHostTarget)));
                if (cells.Any(c => c.System == OursTwoToOne && c.Workload == cell.Workload && c.Callers == cell.Callers))
                {
                    var placed = PairedRatio(measurements, cell.Workload, cell.Callers, "multihost", OursTwoToOne);
                    checks.Add(new TargetCheck($"read-only x{cell.Callers} vs Npgsql multi-host, reads split alike (2 : 1)",
                        $"ours (standby weights 2 : 1) ÷ multi-host ≥ {F(MultiHostTarget)}", Measured(placed), placed.AtLeast(MultiHostTarget)));
                }
            }

            if (cells.Any(c => c.System == "pgpool" && c.Workload == cell.Workload && c.Callers == cell.Callers))
            {
                var r = PairedRatio(measurements, cell.Workload, cell.Callers, "pgpool");
                checks.Add(new TargetCheck($"read-only x{cell.Callers} vs Pgpool-II", $"ours ÷ pgpool ≥ {F(PgpoolTarget)}", Measured(r), r.AtLeast(PgpoolTarget)));
            }
        }

        if (failover?.Systems.FirstOrDefault(s => s.System == Ours) is { } ours)
        {
            var pgpool = failover.Systems.FirstOrDefault(s => s.System == "pgpool");
            // A trial without any successful write counts as infinitely slow in the interval, and misses the target
            // outright: a failover that never recovers is not one a median can excuse.
            var times = Stats.MedianWithInterval(failover.Trials.Where(t => t.System == Ours).Select(t => t.Milliseconds ?? double.PositiveInfinity));
            checks.Add(new TargetCheck(
                "failover: median time to the first successful write",
                string.Create(CultureInfo.InvariantCulture, $"< {FailoverTargetMs:0} ms (Pgpool-II beside it)"),
                string.Create(CultureInfo.InvariantCulture, $"{Ms(ours.MedianMs)} (95% CI {Ms(times.Low)}–{Ms(times.High)}; Pgpool-II {Ms(pgpool?.MedianMs)})"),
                ours.WithWrite == ours.Trials ? times.Below(FailoverTargetMs) : TargetVerdict.Missed));
        }

        if (failover?.Systems.FirstOrDefault(s => s.System == OursHa) is { Median: { } ha } haSummary)
        {
            var alone = failover.Systems.FirstOrDefault(s => s.System == Ours);
            checks.Add(new TargetCheck(
                "failover with 3 coordinators (HA on etcd): median time to the first successful write",
                string.Create(CultureInfo.InvariantCulture, $"< {FailoverTargetMs:0} ms (1 coordinator beside it)"),
                string.Create(CultureInfo.InvariantCulture, $"{Ms(haSummary.MedianMs)} (95% CI {Ms(ha.Low)}–{Ms(ha.High)}; 1 coordinator {Ms(alone?.MedianMs)})"),
                haSummary.WithWrite == haSummary.Trials ? ha.Below(FailoverTargetMs) : TargetVerdict.Missed));
        }

        return checks;
    }

    /// <summary>A ratio with its interval, as the target table shows it: "0.98 (0.95–1.01)".</summary>
    public static string Measured(Estimate e)
    {
        var inv = CultureInfo.InvariantCulture;
        return e.Bounded
            ? string.Create(inv, $"{e.Median:0.00} (95% CI {e.Low:0.00}–{e.High:0.00}, {e.Count} pairs)")
            : string.Create(inv, $"{e.Median:0.00} ({e.Count} pair{(e.Count == 1 ? "" : "s")}: too few to bound)");
    }

    public static int WorkloadOrder(string key) => key switch
    {
        "read" => 0,
        "mixed" => 1,
        "tenant" => 3,
        _ => 2,
    };

    /// <summary>"1736 ms (1376–1998)": a median with its 95% confidence interval ("—" where unbounded).</summary>
    public static string MsWithInterval(Estimate? e) => e is { } x ? $"{Ms(x.Median)} ({Ms(x.Bounded ? x.Low : null)}–{Ms(x.Bounded ? x.High : null)})" : "—";

    public static string Ms(double? ms) => ms is { } v && double.IsFinite(v) ? string.Create(CultureInfo.InvariantCulture, $"{v:0} ms") : "—";
}
