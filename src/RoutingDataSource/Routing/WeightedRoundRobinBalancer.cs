using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Weighted round robin among the usable candidates: one shared counter, each read with a choice takes the next ticket
/// (a read with one usable candidate takes none), and a backend of weight w owns w consecutive tickets of every cycle.
/// Over any run of reads with the same candidates the shares follow the weights
/// exactly (weights 1 and 3: one read in every four on the first), and concurrent callers spread evenly at every
/// moment (a random choice gives one standby more of the in-flight reads at a time than the other). No throughput
/// difference against the random choice could be measured on the benchmark machine (see benchmarks/README.md).
/// </summary>
internal sealed class WeightedRoundRobinBalancer : IReadBalancer
{
    private int _next;

    public NodeState? Pick(ClusterSnapshot snapshot, ulong minimumLsn)
    {
        var candidates = snapshot.ReadCandidates;
        var total = 0;
        var choices = 0;
        NodeState? last = null;
        foreach (var n in candidates)
        {
            if (IsUsable(n, snapshot, minimumLsn) && n.Backend.Weight > 0)
            {
                total += n.Backend.Weight;
                choices++;
                last = n;
            }
        }
        if (choices <= 1)
            return last; // nothing to balance: no ticket, so no write to the counter every caller shares
        var ticket = (int)((uint)Interlocked.Increment(ref _next) % (uint)total);
        foreach (var n in candidates)
        {
            if (!IsUsable(n, snapshot, minimumLsn))
                continue;
            ticket -= n.Backend.Weight;
            if (ticket < 0)
                return n;
        }
        return null;
    }

    /// <summary>
    /// Not suspect since the snapshot's round started, and known to have replayed at least <paramref name="minimumLsn"/>
    /// (the primary always has): by its last probe, or by a guarded read or replay poll since (<see cref="ReplayTracker.Known"/>).
    /// </summary>
    internal static bool IsUsable(NodeState n, ClusterSnapshot snapshot, ulong minimumLsn)
        => !n.Backend.IsSuspectAfter(snapshot.StartedTimestamp)
            && (minimumLsn == 0 || ReferenceEquals(n, snapshot.Primary) || n.ReplayLsn >= minimumLsn || n.Backend.Replay.Known(snapshot.Version) >= minimumLsn);
}
