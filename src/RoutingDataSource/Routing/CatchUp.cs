using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Read-your-writes between probes: which standby a read that must see a write not yet known to be replayed anywhere
/// may try behind the guard (by each standby's <see cref="ReplayTracker"/> estimate), and the bounded wait of
/// <see cref="RoutingOptions.ReadYourWritesWait"/> on the standbys' real replay positions.
/// </summary>
internal static class CatchUp
{
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The standby most likely to have replayed a write <paramref name="age"/> old within <paramref name="wait"/> (the
    /// guard waits that long on the standby): among the read candidates that are standbys, not suspect since the
    /// snapshot's round and not paused, the one with the smallest replay-delay estimate (then the one furthest ahead at
    /// the last probe), if the age plus the wait reaches its estimate; else null, but for one read in
    /// <see cref="ReplayTracker.ExploreEvery"/> (<paramref name="exploring"/>). Allocation-free.
    /// </summary>
    public static NodeState? GuardCandidate(ClusterSnapshot snapshot, TimeSpan age, TimeSpan wait, out bool exploring)
    {
        NodeState? best = null;
        foreach (var n in snapshot.ReadCandidates)
        {
            if (n.Role != BackendRole.Standby || n.ReplayPaused == true || n.Backend.IsSuspectAfter(snapshot.StartedTimestamp))
                continue;
            if (best is null)
            {
                best = n;
                continue;
            }
            var a = n.Backend.Replay.Threshold;
            var b = best.Backend.Replay.Threshold;
            if (a < b || (a == b && (n.ReplayLsn ?? 0) > (best.ReplayLsn ?? 0)))
                best = n;
        }
        exploring = false;
        if (best is null || best.Backend.Replay.Expects(age + wait))
            return best;
        // Younger than every estimate: the primary, but for one read in ReplayTracker.ExploreEvery.
        exploring = best.Backend.Replay.Explore();
        return exploring ? best : null;
    }

    /// <summary>
    /// Asks the read candidates that are standbys (and not paused) for their replay position until one has replayed
    /// <paramref name="required"/> (it is then known to, see <see cref="ReplayTracker.Learn"/>) or the deadline passes
    /// (null). Polls after 1 ms, then twice as long each time, at most every 50 ms.
    /// </summary>
    public static async Task<NodeState?> WaitForReplayAsync(TopologyMonitor monitor, ulong required, Deadline deadline, TimeSpan probeTimeout,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var pause = FirstPoll;
        while (true)
        {
            var s = monitor.Current;
            foreach (var n in s.ReadCandidates)
            {
                if (n.Role != BackendRole.Standby || n.ReplayPaused == true || n.Backend.IsSuspectAfter(s.StartedTimestamp))
                    continue;
                var timeout = deadline.Remaining < probeTimeout ? deadline.Remaining : probeTimeout;
                if (timeout <= TimeSpan.Zero)
                    return null;
                if (await ReplayProbe.ReplayLsnAsync(n.Backend, timeout, cancellationToken).ConfigureAwait(false) is { } replayed && replayed >= required)
                {
                    n.Backend.Replay.Learn(replayed, s.Version);
                    return n;
                }
            }
            var left = deadline.Remaining;
            if (left <= TimeSpan.Zero)
                return null;
            await Task.Delay(pause < left ? pause : left, time, cancellationToken).ConfigureAwait(false);
            pause = pause * 2 < LongestPoll ? pause * 2 : LongestPoll;
        }
    }
}
