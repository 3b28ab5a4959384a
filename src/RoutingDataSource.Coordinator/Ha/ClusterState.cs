using System.Text.Json.Serialization;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>The cluster's identity: the system identifier every member shares (<c>pg_control_system()</c>); a server with another one is not a member.</summary>
internal sealed record ClusterIdentity(string SystemIdentifier);

/// <summary>The primary the leader last established and its timeline.</summary>
internal sealed record PrimaryRecord(string Name, long Timeline);

/// <summary>The synchronous set in force on the primary: its <c>synchronous_standby_names</c> and the members it names.</summary>
internal sealed record SynchronousSet(string? StandbyNames, IReadOnlyList<string> Members);

/// <summary>Members an operator detached: never promoted, never repointed, until attached again.</summary>
internal sealed record DetachedMembers(IReadOnlyList<string> Names);

/// <summary>What an operation in progress is.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationKind>))]
internal enum OperationKind
{
    Failover,
    Switchover,
}

/// <summary>
/// The steps of a failover or switchover, in order. Each is recorded before it is taken, so that whoever leads next
/// knows how far the last leader may have gone and repeats the step (every step is idempotent).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<OperationStep>))]
internal enum OperationStep
{
    /// <summary>The candidate is chosen; nothing is changed yet.</summary>
    CandidateChosen,

    /// <summary>The other standbys are being detached from the old primary.</summary>
    DetachingStandbys,

    /// <summary><c>pg_promote()</c> is being called on the candidate.</summary>
    Promoting,

    /// <summary>The other standbys are being repointed to the new primary.</summary>
    Repointing,

    /// <summary>The old primary is being fenced.</summary>
    Fencing,
}

/// <summary>
/// An operation in progress: what, from where to where, which step, and which leader (with its fencing token)
/// wrote it. Absent when none is.
/// </summary>
internal sealed record OperationRecord(
    OperationKind Kind,
    OperationStep Step,
    string? From,
    string To,
    long? FromTimeline,
    DateTimeOffset StartedAt,
    string Leader,
    long FencingToken)
{
    /// <summary>The same operation at <paramref name="step"/>, as written by the leader of <paramref name="fencingToken"/>.</summary>
    public OperationRecord At(OperationStep step, string leader, long fencingToken) => this with { Step = step, Leader = leader, FencingToken = fencingToken };
}

/// <summary>One finished failover or switchover.</summary>
internal sealed record FailoverHistoryEntry(OperationKind Kind, string? From, string To, long Timeline, DateTimeOffset StartedAt, DateTimeOffset FinishedAt, string Leader);

/// <summary>The most recent failovers, newest last, at most <see cref="Limit"/>.</summary>
internal sealed record FailoverHistory(IReadOnlyList<FailoverHistoryEntry> Entries)
{
    public const int Limit = 32;

    public static readonly FailoverHistory Empty = new([]);

    /// <summary>This history with <paramref name="entry"/> appended, the oldest entries dropped beyond <see cref="Limit"/>.</summary>
    public FailoverHistory Append(FailoverHistoryEntry entry) => new([.. Entries.Append(entry).TakeLast(Limit)]);
}

/// <summary>
/// What a member's node agent was last ordered to do and how it went (<see cref="State"/>: running, done, failed),
/// recorded by the leader before the order is sent and again with its outcome; <see cref="Term"/> is the fencing
/// token the order carried.
/// </summary>
internal sealed record AgentReport(string Kind, string State, string Detail, long Term, string Leader, DateTimeOffset At);

/// <summary>The last <see cref="AgentReport"/> of each member that has one.</summary>
internal sealed record AgentReports(IReadOnlyDictionary<string, AgentReport> Members)
{
    public static readonly AgentReports Empty = new(new Dictionary<string, AgentReport>(StringComparer.Ordinal));

    public AgentReports With(string member, AgentReport report) =>
        new(new Dictionary<string, AgentReport>(Members, StringComparer.Ordinal) { [member] = report });
}

/// <summary>A document as read, with the revision it was last written at (0: absent), for compare-and-swap.</summary>
internal readonly record struct Versioned<T>(T? Value, long ModRevision)
    where T : class
{
    public static readonly Versioned<T> Absent = new(null, 0);
}

/// <summary>
/// The durable state of the cluster in etcd, as one snapshot (every document read at <see cref="Revision"/>). The
/// leader reads it, decides, and writes the next state with <see cref="ClusterStateStore.WriteAsync"/>: only the
/// documents that changed are written, each compared with the revision it had in this snapshot.
/// </summary>
internal sealed record ClusterState(
    Versioned<ClusterIdentity> Identity,
    Versioned<PrimaryRecord> Primary,
    Versioned<SynchronousSet> Synchronous,
    Versioned<DetachedMembers> Detached,
    Versioned<OperationRecord> Operation,
    Versioned<FailoverHistory> History,
    long Revision,
    Versioned<AgentReports> Agents = default)
{
    /// <summary>Nothing written yet (a new cluster).</summary>
    public static readonly ClusterState Empty = new(
        Versioned<ClusterIdentity>.Absent, Versioned<PrimaryRecord>.Absent, Versioned<SynchronousSet>.Absent,
        Versioned<DetachedMembers>.Absent, Versioned<OperationRecord>.Absent, Versioned<FailoverHistory>.Absent, 0);

    public ClusterState WithIdentity(ClusterIdentity? value) => this with { Identity = Identity with { Value = value } };

    public ClusterState WithPrimary(PrimaryRecord? value) => this with { Primary = Primary with { Value = value } };

    public ClusterState WithSynchronous(SynchronousSet? value) => this with { Synchronous = Synchronous with { Value = value } };

    public ClusterState WithDetached(DetachedMembers? value) => this with { Detached = Detached with { Value = value } };

    public ClusterState WithOperation(OperationRecord? value) => this with { Operation = Operation with { Value = value } };

    /// <summary>This state with <paramref name="member"/>'s agent report replaced by <paramref name="report"/>.</summary>
    public ClusterState WithAgentReport(string member, AgentReport report) =>
        this with { Agents = Agents with { Value = (Agents.Value ?? AgentReports.Empty).With(member, report) } };

    /// <summary>The operation finished: it is removed, the new primary recorded, and the history gets its entry.</summary>
    public ClusterState Finish(FailoverHistoryEntry entry) => this with
    {
        Operation = Operation with { Value = null },
        Primary = Primary with { Value = new PrimaryRecord(entry.To, entry.Timeline) },
        History = History with { Value = (History.Value ?? FailoverHistory.Empty).Append(entry) },
    };
}
