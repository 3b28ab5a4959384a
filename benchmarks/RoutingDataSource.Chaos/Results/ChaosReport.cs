using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Chaos.Checking;

namespace RoutingDataSource.Chaos.Results;

/// <summary>Everything one soak measured: the JSON results file holds it, the markdown file shows it.</summary>
internal sealed record ChaosReport
{
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset FinishedAt { get; init; }
    public required int Seed { get; init; }
    public required string Command { get; init; }

    /// <summary>The command that repeats this run's fault sequence.</summary>
    public required string Reproduce { get; init; }

    public required MachineInfo Machine { get; init; }

    /// <summary>1: one coordinator alone; 3: HA mode on a 3-member etcd.</summary>
    public required int Coordinators { get; init; }

    /// <summary>The mode in words ("3 coordinators in HA mode on a 3-member etcd").</summary>
    public required string Mode { get; init; }

    /// <summary>The machine's 1-minute load average when the soak started and when it ended (others' builds and tests count).</summary>
    public required IReadOnlyList<double> LoadAverage { get; init; }
    public required int FaultsPlanned { get; init; }
    public required IReadOnlyList<string> Sequence { get; init; }
    public required IReadOnlyList<FaultStats> Faults { get; init; }
    public required CheckResult Check { get; init; }
    public required IReadOnlyList<Target> Targets { get; init; }

    /// <summary>Operations by kind and outcome label ("Transfer: acknowledged", "Read: ConnectionLost", ...).</summary>
    public required IReadOnlyDictionary<string, long> Operations { get; init; }

    public required IReadOnlyList<string> RawErrorSamples { get; init; }
    public required IReadOnlyList<string> LogSamples { get; init; }
    public required int ClientLogWarnings { get; init; }
    public required int ClientLogErrors { get; init; }
    public required string Artifacts { get; init; }

    /// <summary>The longest a thread-pool work item of the client process waited to run, over the whole soak.</summary>
    public required double MaxThreadPoolDelaySeconds { get; init; }

    /// <summary>Set when the harness itself failed (the cluster could not be repaired, a step threw).</summary>
    public string? HarnessError { get; init; }

    /// <summary>The invariants whose breach makes the process exit non-zero.</summary>
    public bool Failed => Check.Lost > 0 || Check.Phantoms > 0 || Check.RawWriteErrors > 0
        || !Check.OnePromotionPerFailover || Check.TwoLeaderSamples > 0 || !Check.DurableStateOk;
}

/// <summary>One target of issue 18 and whether this run met it.</summary>
internal sealed record Target(string Name, string Requirement, string Measured, bool Met);
