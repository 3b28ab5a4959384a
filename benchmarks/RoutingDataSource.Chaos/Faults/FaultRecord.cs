namespace RoutingDataSource.Chaos.Faults;

/// <summary>What happened during one fault (times in seconds since the soak started).</summary>
internal sealed record FaultRecord
{
    public required int Number { get; init; }
    public required FaultKind Kind { get; init; }

    /// <summary>The server the fault hit.</summary>
    public required string Target { get; init; }

    /// <summary>The primary when the fault started.</summary>
    public required string PrimaryBefore { get; init; }

    /// <summary>When the fault was inflicted.</summary>
    public required double Injected { get; init; }

    /// <summary>When the cluster was whole again (or the fault's handling gave up).</summary>
    public double Recovered { get; set; }

    /// <summary>The primary after the fault, when another was promoted.</summary>
    public string? Promoted { get; set; }

    /// <summary>From the fault to the coordinator naming the new primary.</summary>
    public double? FailoverSeconds { get; set; }

    /// <summary>How the old primary rejoined (pg_rewind, pg_basebackup, ...), when it had to.</summary>
    public string? Rejoin { get; set; }

    /// <summary>How long the rejoin took.</summary>
    public double? RejoinSeconds { get; set; }

    /// <summary>Standbys that could not follow the new primary (they had replayed past its fork point) and were rejoined.</summary>
    public List<string> StrayStandbys { get; } = [];

    /// <summary>The leading coordinator when the fault started (HA mode).</summary>
    public string? LeaderBefore { get; init; }

    /// <summary>After a leader fault: the coordinator that led next, and how long after the fault it did.</summary>
    public string? NewLeader { get; set; }

    /// <inheritdoc cref="NewLeader" />
    public double? TakeoverSeconds { get; set; }

    /// <summary>Promote requests the servers received from the fault's start to the cluster being whole again (their logs).</summary>
    public int? Promotions { get; set; }

    /// <summary>Anything the harness noticed (no failover, a failed step).</summary>
    public string? Note { get; set; }
}
