namespace RoutingDataSource.Topology;

/// <summary>
/// The monitor's immutable view of the cluster, swapped atomically after every probe round.
/// Everything routing needs is precomputed here so a routing decision is a few array reads.
/// </summary>
internal sealed class ClusterSnapshot
{
    public static ClusterSnapshot Initial(Backend[] backends)
    {
        var nodes = new NodeState[backends.Length];
        for (var i = 0; i < backends.Length; i++)
        {
            nodes[i] = new NodeState
            {
                Backend = backends[i],
                Role = BackendRole.Unknown,
                State = backends[i].Detached ? BackendState.Detached : BackendState.Down,
                Reason = "not probed yet",
            };
        }
        return new ClusterSnapshot(nodes, primary: null, ClusterProblem.NotProbedYet, problemMessage: "not probed yet", [], highestTimeline: 0, primaryLsn: null, version: 0,
            takenAt: DateTimeOffset.MinValue, startedTimestamp: 0, lsnHistory: []);
    }

    public ClusterSnapshot(NodeState[] nodes, NodeState? primary, ClusterProblem problem, string? problemMessage, NodeState[] readCandidates,
        int highestTimeline, ulong? primaryLsn, long version, DateTimeOffset takenAt, long startedTimestamp, LsnSample[] lsnHistory)
    {
        StartedTimestamp = startedTimestamp;
        LsnHistory = lsnHistory;
        Nodes = nodes;
        Primary = primary;
        Problem = problem;
        ProblemMessage = problemMessage;
        ReadCandidates = readCandidates;
        HighestTimeline = highestTimeline;
        PrimaryLsn = primaryLsn;
        Version = version;
        TakenAt = takenAt;
    }

    /// <summary>Indexed like the data source's backends.</summary>
    public NodeState[] Nodes { get; }

    /// <summary>The write target, or null (see <see cref="Problem"/>).</summary>
    public NodeState? Primary { get; }

    /// <summary>Why there is no write target; <see cref="ClusterProblem.None"/> when there is one.</summary>
    public ClusterProblem Problem { get; }

    /// <summary>The problem in words, with the servers involved (for status, logs and exceptions); null when there is none.</summary>
    public string? ProblemMessage { get; }

    /// <summary>Nodes that take reads by weight, weight &gt; 0: eligible standbys, plus the primary with <see cref="PrimaryReadMode.ByWeight"/>.</summary>
    public NodeState[] ReadCandidates { get; }

    /// <summary>Highest timeline ever seen by this data source (monotonic across snapshots).</summary>
    public int HighestTimeline { get; }

    /// <summary>The primary's <c>pg_current_wal_lsn()</c> at this round, or the last one seen when the primary did not answer.</summary>
    public ulong? PrimaryLsn { get; }

    /// <summary>Monotonic round number; 0 before the first probe round.</summary>
    public long Version { get; }

    /// <summary>The round's start as a <see cref="TimeProvider.GetTimestamp"/> value.</summary>
    public long StartedTimestamp { get; }

    /// <summary>The primary's insert positions of the last rounds, oldest first (bounded).</summary>
    public LsnSample[] LsnHistory { get; }

    /// <summary>
    /// The smallest WAL position that is certainly at or past every transaction acknowledged before
    /// <paramref name="timestamp"/>: the first sample taken after it. Null when no round has started since then.
    /// Allocation-free.
    /// </summary>
    public ulong? LsnAfter(long timestamp)
    {
        var history = LsnHistory;
        for (var i = 0; i < history.Length; i++)
        {
            if (history[i].Timestamp > timestamp)
                return history[i].Lsn;
        }
        return null;
    }

    /// <summary>When the probe round that produced this snapshot started.</summary>
    public DateTimeOffset TakenAt { get; }
}
