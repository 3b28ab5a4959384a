using System.Globalization;
using RoutingDataSource.Chaos.Faults;

namespace RoutingDataSource.Chaos;

/// <summary>
/// What one soak does: how many faults, which seed picks them, their timing, and where results and logs go.
/// <c>./build.sh chaos [faults] [seed]</c> parses into this; the short soak of the test suite builds its own.
/// </summary>
internal sealed record ChaosSettings
{
    public const int DefaultFaults = 30;

    /// <summary>Three coordinators in HA mode on a 3-member etcd, as issue 21 runs the soak.</summary>
    public const int DefaultCoordinators = 3;

    /// <summary>1: one coordinator alone (no etcd, no coordinator or etcd faults); 3: HA mode on a 3-member etcd.</summary>
    public int Coordinators { get; init; } = DefaultCoordinators;

    /// <summary>
    /// Node agents beside every server (default): old primaries rejoin and destroyed standbys are rebuilt by them, the
    /// schedule adds a switchover and a destroyed standby. <c>--no-agents</c>: the harness rejoins old primaries itself
    /// (<see cref="Testing.LocalPgNode.RejoinAsync"/>), as before the agents.
    /// </summary>
    public bool Agents { get; init; } = true;

    /// <summary>How long a crashed leading coordinator stays down before it is started again (as a follower).</summary>
    public TimeSpan LeaderDownFor { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long the leading coordinator stays cut off from etcd (longer than the lease TTL: another takes over).</summary>
    public TimeSpan EtcdCutDuration { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long a killed etcd member stays down before it is started again.</summary>
    public TimeSpan EtcdMemberDownFor { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>How many faults to inject (ignored when <see cref="FixedFaults"/> is set).</summary>
    public int Faults { get; init; } = DefaultFaults;

    /// <summary>Seeds the <see cref="System.Random"/> that picks the fault sequence, targets and timing.</summary>
    public int Seed { get; init; }

    /// <summary>When set, exactly these faults in this order (the seed still picks targets and timing).</summary>
    public IReadOnlyList<FaultKind>? FixedFaults { get; init; }

    /// <summary>A fault starts this long after the previous one started (or later, once the cluster is whole again).</summary>
    public TimeSpan FaultInterval { get; init; } = TimeSpan.FromSeconds(12);

    /// <summary>Up to this much (seeded) is added to or taken from <see cref="FaultInterval"/>, so faults meet the workload at any phase.</summary>
    public TimeSpan FaultJitter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a frozen primary stays stopped (SIGSTOP) before it is thawed.</summary>
    public TimeSpan FreezeDuration { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long the primary stays cut off from everyone.</summary>
    public TimeSpan CutDuration { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long a returning old primary runs (fenced) after its thaw before it is rejoined.</summary>
    public TimeSpan LateReturnHold { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>How long a crashed standby stays down before it is started again.</summary>
    public TimeSpan StandbyDownFor { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Workload before the first fault, and after the last one has been repaired.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(4);

    /// <inheritdoc cref="Warmup" />
    public TimeSpan Tail { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>How long the cluster may take to be whole again (every node up and streaming) before a fault.</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>Where the results files go (the repository's benchmarks/results for <c>./build.sh chaos</c>); null writes none.</summary>
    public string? ResultsDirectory { get; init; }

    /// <summary>Where the client, coordinator and server logs and the operation list of the run go.</summary>
    public required string ArtifactsDirectory { get; init; }

    /// <summary>The command line recorded in the results.</summary>
    public string Command { get; init; } = "";

    /// <summary>The repository (for the git commit in the results).</summary>
    public string? RepositoryRoot { get; init; }

    /// <summary>The fault sequence this run injects.</summary>
    public IReadOnlyList<FaultKind> Sequence() => FixedFaults ?? FaultPlan.Pick(Faults, new Random(Seed), Coordinators > 1, Agents);

    /// <summary>"3 coordinators in HA mode on a 3-member etcd" or "1 coordinator alone (no etcd)".</summary>
    public string Mode() => (Coordinators > 1 ? $"{Coordinators} coordinators in HA mode on a 3-member etcd" : "1 coordinator alone (no etcd)")
        + (Agents ? ", node agents beside every server" : ", no node agents (the harness rejoins old primaries)");

    /// <summary>The upper bound for the whole soak: every fault at its longest, plus start and checks.</summary>
    public TimeSpan Budget()
    {
        var perFault = FaultInterval + FaultJitter + RecoveryTimeout + LateReturnHold + FreezeDuration;
        return TimeSpan.FromMinutes(5) + Warmup + Tail + perFault * Sequence().Count;
    }

    /// <summary>
    /// Parses <c>[faults] [seed] [--sequence KIND[*N],KIND...] [--coordinators 1|3] [--results DIR] [--artifacts DIR]
    /// [--no-results]</c>; a missing seed is drawn at random; <c>--sequence</c> replaces the seeded choice of faults (the
    /// seed still picks targets and timing; <c>KIND*N</c> is that fault N times in a row); <c>--coordinators 1</c> runs the soak with one coordinator alone, as
    /// before HA mode (default 3).
    /// </summary>
    /// <exception cref="ArgumentException">An argument is not understood.</exception>
    public static ChaosSettings Parse(string[] args, string repositoryRoot)
    {
        var positional = new List<string>();
        string? results = Path.Combine(repositoryRoot, "benchmarks", "results");
        string? artifacts = null;
        List<FaultKind>? sequence = null;
        var coordinators = DefaultCoordinators;
        var agents = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--results" when i + 1 < args.Length:
                    results = args[++i];
                    break;
                case "--artifacts" when i + 1 < args.Length:
                    artifacts = args[++i];
                    break;
                case "--sequence" when i + 1 < args.Length:
                    sequence = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .SelectMany(ParseRepeated)
                        .ToList();
                    break;
                case "--coordinators" when i + 1 < args.Length:
                    coordinators = ParseCount(args[++i], "--coordinators");
                    if (coordinators is not (1 or 3))
                        throw new ArgumentException($"--coordinators must be 1 (alone) or 3 (HA mode on etcd), not {coordinators}.");
                    break;
                case "--no-results":
                    results = null;
                    break;
                case "--no-agents":
                    agents = false;
                    break;
                case var a when a.StartsWith('-'):
                    throw new ArgumentException($"Unknown option '{a}'. Usage: chaos [faults] [seed] [--sequence KIND[*N],KIND...] [--coordinators 1|3] [--no-agents] [--results DIR] [--artifacts DIR] [--no-results]");
                default:
                    positional.Add(args[i]);
                    break;
            }
        }

        if (positional.Count > 2)
            throw new ArgumentException("Usage: chaos [faults] [seed] [--sequence KIND[*N],KIND...] [--coordinators 1|3] [--no-agents] [--results DIR] [--artifacts DIR] [--no-results]");
        if (coordinators == 1 && sequence?.Where(k => k.NeedsHa()).ToList() is [var needsHa, ..])
            throw new ArgumentException($"Fault {needsHa} needs the HA mode (--coordinators 3).");
        if (!agents && sequence?.Where(k => k.NeedsAgents()).ToList() is [var needsAgents, ..])
            throw new ArgumentException($"Fault {needsAgents} needs the node agents (no --no-agents).");
        var faults = positional.Count > 0 ? ParseCount(positional[0], "faults") : DefaultFaults;
        var seed = positional.Count > 1 ? ParseCount(positional[1], "seed") : Random.Shared.Next(1, 1_000_000);
        var command = Environment.GetEnvironmentVariable("CHAOS_COMMAND") is { Length: > 0 } c ? c : "dotnet run --project benchmarks/RoutingDataSource.Chaos -c Release -- " + string.Join(' ', args);
        return new ChaosSettings
        {
            Faults = sequence?.Count ?? faults,
            Coordinators = coordinators,
            Agents = agents,
            Seed = seed,
            FixedFaults = sequence,
            ResultsDirectory = results,
            ArtifactsDirectory = artifacts ?? Path.Combine(repositoryRoot, "artifacts", "chaos", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-seed" + seed.ToString(CultureInfo.InvariantCulture)),
            Command = command,
            RepositoryRoot = repositoryRoot,
        };
    }

    // "KIND" or "KIND*N" (N times in a row, e.g. CrashPrimary*10 for ten failovers in a row).
    private static IEnumerable<FaultKind> ParseRepeated(string item)
    {
        var star = item.IndexOf('*', StringComparison.Ordinal);
        var name = star < 0 ? item : item[..star].Trim();
        var times = star < 0 ? 1 : ParseCount(item[(star + 1)..].Trim(), $"the repeat count of '{item}'");
        if (!Enum.TryParse<FaultKind>(name, ignoreCase: true, out var kind) || int.TryParse(name, out _))
            throw new ArgumentException($"Unknown fault '{name}' (known: {string.Join(", ", Enum.GetNames<FaultKind>())}).");
        return Enumerable.Repeat(kind, times);
    }

    private static int ParseCount(string text, string what) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : throw new ArgumentException($"{what} must be a whole number >= 0 (was '{text}').");
}
