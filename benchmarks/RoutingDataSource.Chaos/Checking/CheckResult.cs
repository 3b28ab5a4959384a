namespace RoutingDataSource.Chaos.Checking;

/// <summary>What the checker found at the end of a soak.</summary>
internal sealed record CheckResult
{
    public string? FinalPrimary { get; init; }

    /// <summary>Servers answering as primaries (not in recovery) at the end: exactly one is right.</summary>
    public IReadOnlyList<string> WritableServers { get; init; } = [];

    public long AcknowledgedWrites { get; init; }

    /// <summary>Acknowledged writes missing on the final primary.</summary>
    public long Lost { get; init; }

    /// <summary>Writes present on the final primary that were reported failed with a RoutingException whose MayHaveCommitted was false.</summary>
    public long Phantoms { get; init; }

    /// <summary>Writes that failed with a raw (non-RoutingException) error and are present anyway.</summary>
    public long CommittedDespiteRawError { get; init; }

    /// <summary>Writes failed with MayHaveCommitted, and how many of them did commit.</summary>
    public long MayHaveCommitted { get; init; }

    public long MayHaveCommittedPresent { get; init; }

    public long RawWriteErrors { get; init; }

    /// <summary>Reads that did not return a total.</summary>
    public long FailedReads { get; init; }

    public long Reads { get; init; }

    /// <summary>Reads that returned a total other than the constant one.</summary>
    public long WrongTotals { get; init; }

    /// <summary>Transfer units that ran more than once before being acknowledged (re-runs by ExecuteAsync).</summary>
    public long RerunTransfers { get; init; }

    public long? FinalTotal { get; init; }

    /// <summary>Accounts whose balance differs from the initial balance plus the ledger's movements.</summary>
    public long LedgerMismatches { get; init; }

    /// <summary>Every standby has the primary's table contents after replay.</summary>
    public bool ReplicasIdentical { get; init; }

    public IReadOnlyList<string> ReplicaDifferences { get; init; } = [];

    /// <summary>Lines of the client log showing a connection used twice or a protocol desync.</summary>
    public long MisuseInLog { get; init; }

    /// <summary>Failed operations whose exception shows a connection used twice or a protocol desync.</summary>
    public long MisuseInOperations { get; init; }

    public IReadOnlyDictionary<string, int> MisuseByPattern { get; init; } = new Dictionary<string, int>();

    public IReadOnlyList<string> LostSamples { get; init; } = [];

    public IReadOnlyList<string> PhantomSamples { get; init; } = [];

    /// <summary>The soak's coordinators: 1 alone, 3 in HA mode on etcd.</summary>
    public int Coordinators { get; init; } = 1;

    /// <summary>Failovers the harness saw (faults after which another server was the primary).</summary>
    public int Failovers { get; init; }

    /// <summary>Promote requests the servers received over the whole soak ("received promote request" in their logs): one per failover is right.</summary>
    public int PromoteRequests { get; init; }

    /// <summary>Samples of every running coordinator's own view of whether it leads (every 20 ms), and those in which two or more did.</summary>
    public long LeaderSamples { get; init; }

    /// <inheritdoc cref="LeaderSamples" />
    public long TwoLeaderSamples { get; init; }

    public IReadOnlyList<string> TwoLeaderMoments { get; init; } = [];

    /// <summary>Leader changes the sampler saw (HA mode).</summary>
    public int LeaderChanges { get; init; }

    /// <summary>HA mode: the primary named by the leader's durable state in etcd at the end (null: none or unreadable).</summary>
    public string? DurablePrimary { get; init; }

    public bool OnePromotionPerFailover => PromoteRequests == Failovers;

    public bool DurableStateOk => Coordinators == 1 || (DurablePrimary is not null && DurablePrimary == FinalPrimary);

    /// <summary>What could not be checked (the cluster was not whole, a query failed).</summary>
    public string? Problem { get; init; }

    public bool BalanceOk => FinalTotal == Workload.Bank.Total && LedgerMismatches == 0;

    public long Misuse => MisuseInLog + MisuseInOperations;

    /// <summary>The one line that says whether the soak held.</summary>
    public string Line() =>
        $"checker: lost {Lost}, phantoms {Phantoms}, raw write errors {RawWriteErrors}, failed reads {FailedReads}/{Reads}, wrong totals {WrongTotals}, " +
        $"in-progress/protocol errors {Misuse} (log {MisuseInLog}, operations {MisuseInOperations}), balance {(BalanceOk ? "ok" : $"WRONG (total {FinalTotal}, {LedgerMismatches} accounts off the ledger)")}, " +
        $"writable servers {WritableServers.Count} ({string.Join(", ", WritableServers)}), replicas {(ReplicasIdentical ? "identical" : "DIFFER")}; " +
        $"{AcknowledgedWrites} writes acknowledged, {MayHaveCommittedPresent}/{MayHaveCommitted} may-have-committed present, {CommittedDespiteRawError} committed despite a raw error; " +
        $"promote requests {PromoteRequests} for {Failovers} failovers{(OnePromotionPerFailover ? "" : " (NOT ONE EACH)")}" +
        (Coordinators > 1
            ? $", {Coordinators} coordinators: two leaders in {TwoLeaderSamples} of {LeaderSamples} samples, {LeaderChanges} leader changes, etcd's durable state names {DurablePrimary ?? "no primary"}{(DurableStateOk ? "" : " (NOT THE FINAL PRIMARY)")}"
            : ", 1 coordinator alone") +
        (Problem is null ? "" : $"; PROBLEM: {Problem}");
}
