using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// Hand-built backends and snapshots for the unit tests of the routing and retry policies (no server is contacted:
/// the pools point at a port nothing listens on and are never opened).
/// </summary>
internal sealed class PolicyFixtures : IAsyncDisposable
{
    /// <summary>The <see cref="ClusterSnapshot.StartedTimestamp"/> of every snapshot built here.</summary>
    public const long RoundStarted = 1_000;

    public PolicyFixtures(params int[] weights)
    {
        Backends = weights.Select((w, i) => new Backend(i, "n" + i, "127.0.0.1", 1000 + i, w,
            NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"))).ToArray();
    }

    public Backend[] Backends { get; }

    /// <summary>A node of backend <paramref name="index"/> as a probe round saw it.</summary>
    public NodeState Node(int index, BackendRole role, ulong replayLsn = 100, long? lagBytes = 0) => new()
    {
        Backend = Backends[index],
        Role = role,
        State = BackendState.Up,
        LastProbeOk = true,
        Timeline = 1,
        ReplayLsn = replayLsn,
        LagBytes = lagBytes,
        ReadEligible = true,
    };

    /// <summary>A snapshot with <paramref name="primary"/> as the write target and <paramref name="readCandidates"/> in that order.</summary>
    public static ClusterSnapshot Snapshot(NodeState primary, params NodeState[] readCandidates)
        => Snapshot(primary, [], readCandidates);

    /// <summary>A snapshot with a primary-LSN history (oldest first) for the read-your-writes arithmetic.</summary>
    public static ClusterSnapshot Snapshot(NodeState? primary, LsnSample[] history, params NodeState[] readCandidates)
    {
        var nodes = new List<NodeState>();
        if (primary is not null)
            nodes.Add(primary);
        nodes.AddRange(readCandidates.Where(n => !ReferenceEquals(n, primary)));
        return new ClusterSnapshot(nodes.OrderBy(n => n.Backend.Index).ToArray(), primary, primary is null ? ClusterProblem.NoPrimary : ClusterProblem.None,
            primary is null ? "no primary" : null, readCandidates,
            highestTimeline: 1, primaryLsn: primary?.ReplayLsn, version: 1, takenAt: DateTimeOffset.UnixEpoch, startedTimestamp: RoundStarted,
            lsnHistory: history);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var b in Backends)
            await b.DisposeAsync();
    }
}
