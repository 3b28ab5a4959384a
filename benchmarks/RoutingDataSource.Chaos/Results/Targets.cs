using System.Globalization;
using RoutingDataSource.Chaos.Checking;
using RoutingDataSource.Chaos.Faults;

namespace RoutingDataSource.Chaos.Results;

/// <summary>The targets of issues 18 and 21 ("30 faults in one run: 0 lost, 0 phantoms, ...") against one run.</summary>
internal static class Targets
{
    public const int FaultsRequired = 30;
    public const double CrashGapSeconds = 2;
    public const double FreezeGapSeconds = 5;

    /// <param name="agents">Whether node agents ran: then every old primary must have rejoined through its agent (issue 22).</param>
    public static IReadOnlyList<Target> Evaluate(CheckResult c, IReadOnlyList<FaultStats> faults, string? harnessError, bool agents)
    {
        var inv = CultureInfo.InvariantCulture;
        var crash = Gaps(faults, FaultKind.CrashPrimary);
        var freeze = Gaps(faults, FaultKind.FreezePrimary, FaultKind.LateReturn);
        return
        [
            new("faults", $"{FaultsRequired} faults in one run", $"{faults.Count}{(harnessError is null ? "" : " (harness failed)")}", faults.Count >= FaultsRequired && harnessError is null),
            new("lost", "0 acknowledged writes lost", c.Lost.ToString(inv), c.Lost == 0 && c.Problem is null),
            new("phantoms", "0 phantoms (present, but reported failed without MayHaveCommitted)", c.Phantoms.ToString(inv), c.Phantoms == 0 && c.Problem is null),
            new("raw write errors", "0 raw (non-RoutingException) errors on writes", c.RawWriteErrors.ToString(inv), c.RawWriteErrors == 0),
            new("failed reads", "0 failed reads outside transactions", $"{c.FailedReads} of {c.Reads}", c.FailedReads == 0),
            new("wrong totals", "every observed total correct", $"{c.WrongTotals} wrong", c.WrongTotals == 0),
            new("in-progress/protocol errors", "0 \"command already in progress\"/protocol errors in the client log", $"{c.Misuse} (log {c.MisuseInLog}, failed operations {c.MisuseInOperations})", c.Misuse == 0),
            new("balance and ledger", "total constant and every account equal to its ledger", c.BalanceOk ? "consistent" : $"total {c.FinalTotal}, {c.LedgerMismatches} accounts off", c.BalanceOk),
            new("one writable server", "exactly one writable server at the end", c.WritableServers.Count.ToString(inv), c.WritableServers.Count == 1),
            new("replicas identical", "every standby's tables equal the primary's", c.ReplicasIdentical ? "identical" : string.Join("; ", c.ReplicaDifferences), c.ReplicasIdentical),
            new("standbys follow", "after every failover each standby follows the new primary by itself", Strays(faults), faults.All(f => f.Fault.StrayStandbys.Count == 0)),
            .. agents
                ? (Target[])
                [
                    new("old primaries rejoin by themselves", "every old primary streams from the new primary through its agent, none rejoined by the harness (issue 22)", ByThemselves(faults), faults.All(f => f.Fault.Rejoin is null || f.Fault.Rejoin.StartsWith("agent ", StringComparison.Ordinal))),
                ]
                : [],
            new("crash write gap", $"write gap median <= {CrashGapSeconds:0} s for primary crashes", Median(crash), crash.Count > 0 && Stats.Median(crash) <= CrashGapSeconds),
            new("one promotion per failover", "exactly one promote request in the servers' logs per failover (issue 21)", $"{c.PromoteRequests} for {c.Failovers} failovers", c.OnePromotionPerFailover),
            .. c.Coordinators > 1
                ? (Target[])
                [
                    new("one leader at a time", "never two coordinators leading at once (every 20 ms, each one's own view)", $"two leaders in {c.TwoLeaderSamples} of {c.LeaderSamples} samples{(c.TwoLeaderMoments.Count > 0 ? " (" + string.Join("; ", c.TwoLeaderMoments) + ")" : "")}; {c.LeaderChanges} leader changes", c.TwoLeaderSamples == 0 && c.LeaderSamples > 0),
                    new("durable state", "the leader's durable state in etcd names the final primary", $"etcd names {c.DurablePrimary ?? "no primary"}, final primary {c.FinalPrimary ?? "none"}", c.DurableStateOk),
                ]
                : [],
            new("freeze write gap", $"write gap median <= {FreezeGapSeconds:0} s for primary freezes (late returns included)", Median(freeze), freeze.Count > 0 && Stats.Median(freeze) <= FreezeGapSeconds),
        ];
    }

    private static string Strays(IReadOnlyList<FaultStats> faults)
    {
        var stray = faults.Where(f => f.Fault.StrayStandbys.Count > 0).Select(f => $"fault {f.Fault.Number}: {string.Join(", ", f.Fault.StrayStandbys)}").ToList();
        return stray.Count == 0 ? "all followed" : $"{stray.Count} fault(s) left a standby behind ({string.Join("; ", stray)}), rejoined by the harness";
    }

    private static string ByThemselves(IReadOnlyList<FaultStats> faults)
    {
        var rejoined = faults.Where(f => f.Fault.Rejoin is not null).ToList();
        var byHarness = rejoined.Where(f => !f.Fault.Rejoin!.StartsWith("agent ", StringComparison.Ordinal)).Select(f => $"fault {f.Fault.Number}: {f.Fault.Rejoin}").ToList();
        return byHarness.Count == 0
            ? $"{rejoined.Count} of {rejoined.Count} by their agents"
            : $"{rejoined.Count - byHarness.Count} of {rejoined.Count} by their agents; {string.Join("; ", byHarness)}";
    }

    private static List<double> Gaps(IReadOnlyList<FaultStats> faults, params FaultKind[] kinds) =>
        faults.Where(f => kinds.Contains(f.Fault.Kind)).Select(f => f.WriteGapSeconds).ToList();

    private static string Median(List<double> gaps) =>
        gaps.Count == 0 ? "no such fault" : string.Create(CultureInfo.InvariantCulture, $"{Stats.Median(gaps):0.00} s (n = {gaps.Count}, max {gaps.Max():0.00} s)");
}

/// <summary>The one statistic the report needs.</summary>
internal static class Stats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
