using RoutingDataSource.Benchmarks.Comparison.Failover;
using RoutingDataSource.Benchmarks.Comparison.Micro;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Workloads;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>Everything one <c>compare</c> run found: the JSON results file is this object; the markdown file renders it.</summary>
internal sealed record BenchReport
{
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset FinishedAt { get; init; }
    public required string Command { get; init; }
    public required MachineInfo Machine { get; init; }
    public required LoadConditions Load { get; init; }
    public required RunParameters Parameters { get; init; }
    public ThroughputReport? Throughput { get; init; }
    public FailoverReport? Failover { get; init; }
    public OverheadReport? Overhead { get; init; }
    public MicroReport? Micro { get; init; }
    public required IReadOnlyList<TargetCheck> Targets { get; init; }
}

/// <summary>How busy the machine was besides this run.</summary>
internal sealed record LoadConditions
{
    /// <summary>/proc/loadavg (1, 5, 15 min) when the run started, before it added any load.</summary>
    public required double[] LoadAverageAtStart { get; init; }

    /// <summary>Median, over the throughput measurements, of the CPU share other processes used (0..1 of all cores).</summary>
    public double? OthersCpuMedian { get; init; }

    /// <summary>The highest such share in any one measurement.</summary>
    public double? OthersCpuMax { get; init; }

    /// <summary>Median share this run itself (client, servers, pgpool) used during the measurements.</summary>
    public double? OursCpuMedian { get; init; }

    /// <summary>True when other processes used more than 10% of the machine in the median measurement.</summary>
    public bool Shared { get; init; }
}

/// <summary>The knobs of the run.</summary>
internal sealed record RunParameters
{
    public required int Rounds { get; init; }
    public required double WarmupSeconds { get; init; }
    public required double DurationSeconds { get; init; }
    public required IReadOnlyList<int> Callers { get; init; }
    public required int PgbenchScale { get; init; }
    public required int FailoverTrials { get; init; }
    public required int OverheadRounds { get; init; }
    public required double OverheadDurationSeconds { get; init; }
    public required bool FullRun { get; init; }

    /// <summary>The throughput part's servers each capped at this many cores (<c>--server-cpu</c>), or null.</summary>
    public double? ServerCpuCores { get; init; }
}

internal sealed record ThroughputReport
{
    public required IReadOnlyDictionary<string, string> Systems { get; init; }
    public required IReadOnlyList<ThroughputCell> Cells { get; init; }
    public required IReadOnlyList<Measurement> Measurements { get; init; }
    public required double PgbenchLoadSeconds { get; init; }
    public required string PgpoolConfig { get; init; }
}

/// <summary>One system at one workload and concurrency, over all rounds.</summary>
internal sealed record ThroughputCell
{
    public required string Workload { get; init; }
    public required int Callers { get; init; }
    public required string System { get; init; }
    public required double MedianOpsPerSecond { get; init; }
    public required double MedianP50Ms { get; init; }
    public required double MedianP99Ms { get; init; }
    public required long Errors { get; init; }

    /// <summary>Median over rounds of the share of reads served by standbys; null for a workload without reads.</summary>
    public required double? StandbyReadShare { get; init; }

    /// <summary>Median over rounds of the first standby's (n1's) part of the standbys' reads; null when they served none.</summary>
    public required double? FirstStandbyShare { get; init; }

    /// <summary>
    /// Median over rounds of this system's throughput divided by plain Npgsql's in the same round, with its 95%
    /// confidence interval.
    /// </summary>
    public required Estimate RatioToNpgsql { get; init; }

    public required IReadOnlyList<double> OpsPerSecondByRound { get; init; }
}

internal sealed record FailoverReport
{
    public required IReadOnlyList<FailoverSummary> Systems { get; init; }
    public required IReadOnlyList<FailoverTrialRecord> Trials { get; init; }
}

internal sealed record FailoverSummary
{
    public required string System { get; init; }
    public required string Label { get; init; }
    public required string Promotion { get; init; }
    public required int Trials { get; init; }
    public required int WithWrite { get; init; }
    public required double? MinMs { get; init; }
    public required double? MedianMs { get; init; }
    public required double? MaxMs { get; init; }
    public required long FailedWrites { get; init; }

    /// <summary>The median over every trial (one without a write counts as infinitely long) with its 95% confidence interval.</summary>
    public Estimate? Median { get; init; }
}

/// <summary><c>SELECT 1</c> end to end through the routing data source on one server against plain Npgsql on it.</summary>
internal sealed record OverheadReport
{
    public required string Statement { get; init; }
    public required IReadOnlyList<OverheadCell> Cells { get; init; }
    public required IReadOnlyList<OverheadMeasurement> Measurements { get; init; }
}

/// <summary>One system at one concurrency, over all rounds of the overhead part.</summary>
internal sealed record OverheadCell
{
    public required int Callers { get; init; }
    public required string System { get; init; }
    public required double MedianOpsPerSecond { get; init; }

    /// <summary>
    /// Median over rounds of this system's throughput divided by plain Npgsql's in the same round, with its 95%
    /// confidence interval.
    /// </summary>
    public required Estimate RatioToNpgsql { get; init; }

    public required double MedianAllocatedBytesPerOp { get; init; }
    public required double MedianProcessCpuMicrosecondsPerOp { get; init; }

    /// <summary>
    /// The routing overhead per statement: median over rounds of this system's client CPU per statement minus plain
    /// Npgsql's in the same round, in µs, with its 95% confidence interval (0 for plain Npgsql itself).
    /// </summary>
    public required Estimate CpuOverMicroseconds { get; init; }

    /// <summary>
    /// Median over rounds of this system's allocated bytes per statement divided by plain Npgsql's in the same round,
    /// with its 95% confidence interval (absent in results written before 2026-12-02).
    /// </summary>
    public Estimate? AllocatedRatioToNpgsql { get; init; }

    public required long Errors { get; init; }
    public required IReadOnlyList<double> OpsPerSecondByRound { get; init; }
}

internal sealed record MicroReport
{
    public required string Job { get; init; }
    public required IReadOnlyList<MicroFigure> Figures { get; init; }
}

/// <summary>
/// One target of the issue and what the run says about it: met or missed when the 95% confidence interval of the
/// measured figure lies wholly on one side of the requirement, undecided when it straddles it.
/// </summary>
internal sealed record TargetCheck(string Target, string Requirement, string Measured, TargetVerdict Verdict);
