namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// The coordinator's view of the cluster, as <c>GET /cluster</c> returns it (camelCase JSON). The names of the
/// documented fields (primary, timeline, members: name, host, port, role, state, timeline, lsn, lagBytes) are a
/// contract, and so are <c>leader</c> (null while nobody leads) and <c>coordinators</c> (<c>[{"name", "http", "leader"}]</c>);
/// the others are additions (<c>ha</c>: etcd and lease, null when the coordinator runs alone).
/// </summary>
internal sealed record ClusterView(
    string? Primary,
    int Timeline,
    IReadOnlyList<MemberView> Members,
    string? Decision,
    FailoverRecord? LastFailover,
    long Rounds,
    DateTimeOffset? ObservedAt,
    string? Leader = null,
    IReadOnlyList<Ha.CoordinatorInfo>? Coordinators = null,
    Ha.HaStatus? Ha = null)
{
    public MemberView? Find(string name) => Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
}

/// <summary>A member's role as last probed (JSON: "primary", "standby", "unknown").</summary>
internal enum MemberRole
{
    Unknown,
    Primary,
    Standby,
}

/// <summary>A member's state (JSON: "up", "down", "detached", "fenced"): fenced is an old primary on a lower timeline.</summary>
internal enum MemberState
{
    Up,
    Down,
    Detached,
    Fenced,
}

/// <summary>One member: its role and state (as camelCase strings in JSON), positions, why it is not up, and what its node agent last did (null: nothing, or no agent).</summary>
internal sealed record MemberView(
    string Name,
    string Host,
    int Port,
    MemberRole Role,
    MemberState State,
    int? Timeline,
    string? Lsn,
    long? LagBytes,
    int Priority,
    string? ReceivedLsn,
    string? SyncState,
    string? Receiver,
    DateTimeOffset? LastChange,
    string? Reason,
    string? Agent = null);

/// <summary>Who asked for a promotion (JSON: "automatic", "manual").</summary>
internal enum FailoverTrigger
{
    /// <summary>The coordinator found the primary dead.</summary>
    Automatic,

    /// <summary>An operator, through <c>POST /failover</c>: a failover, or a switchover from a live primary.</summary>
    Manual,
}

/// <summary>The last promotion this coordinator made.</summary>
internal sealed record FailoverRecord(string? OldPrimary, string NewPrimary, int? Timeline, DateTimeOffset At, long DecisionToPromotedMs, FailoverTrigger Trigger);

/// <summary>
/// Body of <c>POST /failover</c>. <paramref name="Force"/>: promote even though the coordinator knows no primary
/// (it started during an outage), so it cannot check the synchronous set; the candidate must still be the most
/// advanced standby that answers.
/// </summary>
internal sealed record FailoverRequest(string? Candidate, bool Force = false);

/// <summary>Answer of a successful <c>POST /failover</c>.</summary>
internal sealed record FailoverResponse(string Primary, string? Previous, int? Timeline, long TookMs);

/// <summary>A JSON error body.</summary>
internal sealed record ErrorResponse(string Error);
