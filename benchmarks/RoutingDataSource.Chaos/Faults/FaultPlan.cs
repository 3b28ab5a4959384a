namespace RoutingDataSource.Chaos.Faults;

/// <summary>The seeded fault sequence.</summary>
internal static class FaultPlan
{
    // One deck: primary crashes most often (they carry a target of their own), the slow late return least.
    private static readonly FaultKind[] Deck =
    [
        FaultKind.CrashPrimary, FaultKind.CrashPrimary, FaultKind.CrashPrimary,
        FaultKind.FreezePrimary, FaultKind.FreezePrimary,
        FaultKind.CrashStandby, FaultKind.CrashStandby,
        FaultKind.CutPrimary, FaultKind.CutPrimary,
        FaultKind.LateReturn,
    ];

    // HA mode: the same deck plus one of each coordinator and etcd fault.
    private static readonly FaultKind[] HaDeck = [.. Deck, FaultKind.CrashLeader, FaultKind.CutLeaderFromEtcd, FaultKind.CrashEtcdMember];

    // With agents: a switchover under load and a destroyed standby in every deck.
    private static readonly FaultKind[] AgentFaults = [FaultKind.Switchover, FaultKind.DestroyStandby];

    /// <summary>
    /// Deals <paramref name="count"/> faults from shuffled decks: every ten faults (thirteen in HA mode, two more with
    /// agents) hold each kind in the deck's proportions.
    /// </summary>
    public static IReadOnlyList<FaultKind> Pick(int count, Random random, bool ha, bool agents)
    {
        var picked = new List<FaultKind>(count);
        while (picked.Count < count)
        {
            FaultKind[] deck = [.. ha ? HaDeck : Deck, .. agents ? AgentFaults : []];
            random.Shuffle(deck);
            picked.AddRange(deck.Take(count - picked.Count));
        }

        return picked;
    }
}
