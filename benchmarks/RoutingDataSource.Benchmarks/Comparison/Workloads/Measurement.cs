using RoutingDataSource.Benchmarks.Comparison.Infrastructure;

namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>One system under one workload at one concurrency in one round: what happened in the measured window.</summary>
internal sealed record Measurement
{
    public required string System { get; init; }
    public required string Workload { get; init; }
    public required int Callers { get; init; }
    public required int Round { get; init; }
    public required double Seconds { get; init; }
    public required long Reads { get; init; }
    public required long Writes { get; init; }
    public required long Errors { get; init; }
    public required double OpsPerSecond { get; init; }
    public required double P50Ms { get; init; }
    public required double P99Ms { get; init; }

    /// <summary>Reads served by standbys over all reads, as the system counted them in the window; null without reads.</summary>
    public required double? StandbyReadShare { get; init; }

    /// <summary>The first standby's (n1's) part of the reads the standbys served; null when they served none.</summary>
    public required double? FirstStandbyShare { get; init; }

    public required CpuShare Cpu { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
}
