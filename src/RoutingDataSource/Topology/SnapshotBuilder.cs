using System.Globalization;

namespace RoutingDataSource.Topology;

/// <summary>
/// Pure function from (previous snapshot, this round's observations) to the next snapshot: roles, Up/Down with the
/// consecutive-failure threshold, timeline fencing, the primary (or why there is none), lag and read eligibility.
/// No I/O, no clock of its own and nothing mutable read (which backends are detached is an input), so every rule is
/// unit-testable.
/// </summary>
internal static class SnapshotBuilder
{
    /// <summary>How many primary positions a snapshot remembers for read-your-writes.</summary>
    internal const int LsnHistoryLength = 32;

    /// <summary>Which of the snapshot's backends are detached right now (<see cref="Backend.Detached"/>), in node order.</summary>
    public static bool[] DetachedFlags(ClusterSnapshot snapshot)
    {
        var flags = new bool[snapshot.Nodes.Length];
        for (var i = 0; i < flags.Length; i++)
            flags[i] = snapshot.Nodes[i].Backend.Detached;
        return flags;
    }

    /// <summary>The next snapshot from the previous one, this round's observations and the detached flags, in node order.</summary>
    public static ClusterSnapshot Build(ClusterSnapshot previous, IReadOnlyList<BackendObservation> observations, IReadOnlyList<bool> detached,
        RoutingOptions options, DateTimeOffset now, long startedTimestamp = 0)
    {
        var count = previous.Nodes.Length;
        var highest = previous.HighestTimeline;
        for (var i = 0; i < count; i++)
        {
            var o = observations[i];
            if (o.Reachable && o.Timeline is { } tl && tl > highest)
                highest = tl;
        }

        // Pass 1: per-node health and role, before the cluster-wide primary decision.
        var roles = new BackendRole[count];
        var states = new BackendState[count];
        var failures = new int[count];
        var probeOk = new bool[count];
        var timelines = new int?[count];
        var reasons = new string?[count];
        for (var i = 0; i < count; i++)
        {
            var o = observations[i];
            var prev = previous.Nodes[i];
            if (o.IsPending)
            {
                // No news: as the previous snapshot saw it (only the cluster-wide pass below may fence it).
                failures[i] = prev.ConsecutiveFailures;
                probeOk[i] = prev.LastProbeOk;
                roles[i] = prev.Role;
                states[i] = prev.State;
                timelines[i] = prev.Timeline;
                reasons[i] = prev.Reason;
            }
            else if (o.Reachable)
            {
                failures[i] = 0;
                probeOk[i] = true;
                roles[i] = o.InRecovery ? BackendRole.Standby : BackendRole.Primary;
                states[i] = BackendState.Up;
                timelines[i] = o.Timeline;
            }
            else
            {
                failures[i] = prev.ConsecutiveFailures + 1;
                roles[i] = prev.Role;
                timelines[i] = prev.Timeline;
                // A node that was never up (or already down) goes down at once; an up node gets the configured grace.
                var down = prev.State != BackendState.Up || failures[i] >= options.HealthCheckMaxRetries;
                states[i] = down ? BackendState.Down : BackendState.Up;
                if (down)
                    reasons[i] = string.Create(CultureInfo.InvariantCulture, $"{failures[i]} failed health check(s)");
            }
            if (detached[i])
            {
                states[i] = BackendState.Detached;
                reasons[i] = "detached";
            }
        }

        // Pass 2: the primary. Old timelines are fenced; a tie on the highest timeline means no writable primary.
        var primaryIndex = -1;
        var problem = ClusterProblem.None;
        string? problemMessage = null;
        var primaries = 0;
        for (var i = 0; i < count; i++)
        {
            if (roles[i] != BackendRole.Primary || states[i] != BackendState.Up)
                continue;
            var tl = timelines[i] ?? 0;
            if (tl < highest)
            {
                states[i] = BackendState.Fenced;
                reasons[i] = string.Create(CultureInfo.InvariantCulture, $"primary on timeline {tl}, lower than timeline {highest} seen: fenced");
                continue;
            }
            primaries++;
            if (primaries == 1)
                primaryIndex = i;
        }
        if (primaries > 1)
        {
            primaryIndex = -1;
            var names = new List<string>();
            for (var i = 0; i < count; i++)
            {
                if (roles[i] == BackendRole.Primary && states[i] == BackendState.Up)
                {
                    names.Add(previous.Nodes[i].Backend.Name);
                    reasons[i] = "two primaries on the same timeline";
                }
            }
            problem = ClusterProblem.TwoPrimaries;
            problemMessage = string.Create(CultureInfo.InvariantCulture, $"two primaries on timeline {highest} ({string.Join(", ", names)}): no writable primary until one is demoted or fenced");
        }
        else if (primaries == 0)
        {
            problem = ClusterProblem.NoPrimary;
            problemMessage = "no primary: no backend that is up answered as a primary on the highest timeline";
        }

        // With the primary unreachable (a failover in progress) standbys still serve reads: they cannot be ahead of the
        // last position the primary was seen at, so lag is measured against that.
        var primaryLsn = (primaryIndex >= 0 && observations[primaryIndex].Reachable ? observations[primaryIndex].CurrentLsn : null)
            ?? previous.PrimaryLsn;
        // Never seen a primary (started during an outage): the most advanced WAL any standby received is the best
        // reference there is.
        var reference = primaryLsn ?? MostAdvancedStandby(observations);
        var primaryObs = primaryIndex >= 0 ? observations[primaryIndex] : null;
        // What a standby must share with the primary to serve reads: an orphaned standby (left on an older timeline
        // by a promotion) or one of another cluster replays nothing of the primary's, yet reports no lag.
        var primaryTimeline = primaryIndex >= 0 ? timelines[primaryIndex] : null;
        var primarySystem = primaryIndex >= 0 ? SystemIdentifierOf(observations[primaryIndex], previous.Nodes[primaryIndex]) : null;

        // Pass 3: lag and read eligibility, then the immutable nodes.
        var nodes = new NodeState[count];
        var candidates = new List<NodeState>(count);
        for (var i = 0; i < count; i++)
        {
            var o = observations[i];
            var prev = previous.Nodes[i];
            var backend = prev.Backend;
            if (o.IsPending)
            {
                nodes[i] = states[i] == prev.State ? prev : Refenced(prev, states[i], reasons[i], now);
                if (nodes[i].ReadEligible && TakesReadsByWeight(i == primaryIndex, backend, options))
                    candidates.Add(nodes[i]);
                continue;
            }
            long? lagBytes = null;
            TimeSpan? lag = null;
            var eligible = false;
            ReplicationRow? row = null;
            if (roles[i] == BackendRole.Standby && probeOk[i])
            {
                if (reference is { } pl && o.ReplayLsn is { } rl)
                    lagBytes = pl > rl ? (long)(pl - rl) : 0;
                row = FindReplicationRow(primaryObs, backend.Name);
                // Idle and fully replayed: PostgreSQL reports a NULL replay_lag, but the lag is really zero.
                lag = lagBytes == 0 ? TimeSpan.Zero : row?.ReplayLag;
                eligible = states[i] == BackendState.Up
                    && (options.MaxReplicationLagBytes is not { } maxBytes || (lagBytes is { } lb && lb <= maxBytes))
                    && (options.MaxReplicationLag is not { } maxLag || lag is not { } l || l <= maxLag);
                var diverged = Diverged(timelines[i], o.SystemIdentifier, primaryTimeline, primarySystem);
                if (states[i] == BackendState.Up && diverged is not null)
                {
                    eligible = false;
                    reasons[i] = diverged;
                }
                else if (states[i] == BackendState.Up && !eligible)
                {
                    reasons[i] = lagBytes is null
                        ? "lag unknown (no primary position): no reads"
                        : string.Create(CultureInfo.InvariantCulture, $"lag {lagBytes} bytes / {lag?.TotalSeconds:0.###}s over the limit: no reads");
                }
            }
            else if (i == primaryIndex)
            {
                lagBytes = 0;
                lag = TimeSpan.Zero;
                eligible = probeOk[i];
            }
            if (states[i] == BackendState.Up && !probeOk[i] && reasons[i] is null)
                reasons[i] = string.Create(CultureInfo.InvariantCulture, $"last health check failed ({failures[i]} in a row)");

            var changed = roles[i] != prev.Role || states[i] != prev.State;
            var node = new NodeState
            {
                Backend = backend,
                Role = roles[i],
                State = states[i],
                LastProbeOk = probeOk[i],
                ConsecutiveFailures = failures[i],
                Timeline = timelines[i],
                SystemIdentifier = SystemIdentifierOf(o, prev),
                ReplayLsn = o.Reachable ? o.ReplayLsn : prev.ReplayLsn,
                LagBytes = lagBytes,
                Lag = lag,
                ReplayPaused = o.Reachable ? o.ReplayPaused : null,
                SyncState = row?.SyncState,
                WalReceiverStatus = o.Reachable ? o.WalReceiverStatus : null,
                ApplicationNameMismatch = roles[i] == BackendRole.Standby && probeOk[i] && primaryObs is { Reachable: true } && row is null,
                LastStatusChange = changed || previous.Version == 0 ? now : prev.LastStatusChange,
                LastError = o.Reachable ? null : o.Error,
                PermanentError = o.Reachable ? null : o.PermanentError,
                Reason = reasons[i],
                ReadEligible = eligible,
                LastObservation = o.Reachable ? o : prev.LastObservation,
            };
            nodes[i] = node;
            if (eligible && TakesReadsByWeight(i == primaryIndex, backend, options))
                candidates.Add(node);
        }

        var primaryNode = primaryIndex >= 0 ? nodes[primaryIndex] : null;
        var history = previous.LsnHistory;
        if (primaryObs is { Reachable: true, InsertLsn: { } insert })
        {
            var keep = Math.Min(history.Length, LsnHistoryLength - 1);
            var next = new LsnSample[keep + 1];
            Array.Copy(history, history.Length - keep, next, 0, keep);
            next[keep] = new LsnSample(startedTimestamp, insert);
            history = next;
        }
        return new ClusterSnapshot(nodes, primaryNode, problem, problemMessage, [.. candidates], highest, primaryLsn, previous.Version + 1, now, startedTimestamp, history);
    }

    // Weights follow the role: a standby's always applies, the primary's only with PrimaryServesReads = ByWeight.
    private static bool TakesReadsByWeight(bool isPrimary, Backend backend, RoutingOptions options)
        => backend.Weight > 0 && (!isPrimary || options.PrimaryServesReads == PrimaryReadMode.ByWeight);

    // A server with no news whose state the cluster-wide pass changed (a primary fenced by a newer timeline).
    private static NodeState Refenced(NodeState prev, BackendState state, string? reason, DateTimeOffset now) => new()
    {
        Backend = prev.Backend,
        Role = prev.Role,
        State = state,
        LastProbeOk = prev.LastProbeOk,
        ConsecutiveFailures = prev.ConsecutiveFailures,
        Timeline = prev.Timeline,
        SystemIdentifier = prev.SystemIdentifier,
        ReplayLsn = prev.ReplayLsn,
        LagBytes = prev.LagBytes,
        Lag = prev.Lag,
        ReplayPaused = prev.ReplayPaused,
        SyncState = prev.SyncState,
        WalReceiverStatus = prev.WalReceiverStatus,
        ApplicationNameMismatch = prev.ApplicationNameMismatch,
        LastStatusChange = now,
        LastError = prev.LastError,
        PermanentError = prev.PermanentError,
        Reason = reason,
        ReadEligible = false,
        LastObservation = prev.LastObservation,
    };

    private static ulong? SystemIdentifierOf(BackendObservation o, NodeState prev) => o.Reachable ? o.SystemIdentifier ?? prev.SystemIdentifier : prev.SystemIdentifier;

    // Why a standby shares nothing to read with the primary, or null when it may serve reads (unknown counts as shared).
    private static string? Diverged(int? timeline, ulong? system, int? primaryTimeline, ulong? primarySystem)
    {
        if (system is { } s && primarySystem is { } ps && s != ps)
            return string.Create(CultureInfo.InvariantCulture, $"system identifier {s} differs from the primary's {ps}: not a standby of this primary, no reads");
        if (timeline is { } tl && primaryTimeline is { } ptl && tl < ptl)
            return string.Create(CultureInfo.InvariantCulture, $"on timeline {tl}, below the primary's timeline {ptl}: orphaned by a promotion, no reads");
        return null;
    }

    private static ulong? MostAdvancedStandby(IReadOnlyList<BackendObservation> observations)
    {
        ulong? max = null;
        foreach (var o in observations)
        {
            if (o.Reachable && o.InRecovery)
            {
                var pos = Math.Max(o.CurrentLsn ?? 0, o.ReplayLsn ?? 0);
                if (max is null || pos > max)
                    max = pos;
            }
        }
        return max;
    }

    private static ReplicationRow? FindReplicationRow(BackendObservation? primary, string name)
    {
        if (primary is null)
            return null;
        foreach (var r in primary.Replication)
        {
            if (string.Equals(r.ApplicationName, name, StringComparison.Ordinal))
                return r;
        }
        return null;
    }
}
