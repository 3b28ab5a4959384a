using System.Globalization;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Routing;

/// <summary>
/// Picks the server for a decision of the <see cref="SessionRouter"/> from the current <see cref="ClusterSnapshot"/>:
/// the primary (waiting up to <see cref="RoutingOptions.FailoverTimeout"/> while there is none), or an eligible standby
/// that has replayed what the session must see (waiting up to <see cref="RoutingOptions.ReadYourWritesWait"/>), else
/// the primary. Holds the data source's own write mark for <see cref="ReadYourWritesScope.DataSource"/>.
/// </summary>
internal sealed class BackendSelector(TopologyMonitor monitor, IReadBalancer balancer, RoutingOptions options, TimeProvider time)
{
    private long _lastWrite; // TimeProvider timestamp of the last write acknowledged through this data source
    private long _lastUnpositioned; // ... of the last one whose commit position is not known
    private long _writeLsn; // the highest known commit position of the data source's writes (a WAL position stays below 2^63)

    /// <summary>The last write acknowledged through the data source (0: none).</summary>
    public long LastWrite => Volatile.Read(ref _lastWrite);

    /// <summary>
    /// Remembers that a write was acknowledged at <paramref name="timestamp"/> with its commit position
    /// <paramref name="lsn"/> (0: not known). Only in the DataSource scope is it read.
    /// </summary>
    public void MarkWrite(long timestamp, ulong lsn)
    {
        if (options.ReadYourWrites != ReadYourWritesScope.DataSource)
            return;
        RaiseTo(ref _lastWrite, timestamp);
        if (lsn == 0)
            RaiseTo(ref _lastUnpositioned, timestamp);
        else
            RaiseTo(ref _writeLsn, (long)lsn);
    }

    private static void RaiseTo(ref long field, long value)
    {
        var seen = Volatile.Read(ref field);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref field, value, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>The replay position a standby needs to serve a read of a session in this state (see <see cref="ReadRequirement"/>).</summary>
    public ulong RequiredLsn(ClusterSnapshot snapshot, in SessionState session)
        => ReadRequirement.MinimumLsn(snapshot, options.ReadYourWrites, session.LastWrite, session.WriteLsn,
            Volatile.Read(ref _lastUnpositioned), (ulong)Volatile.Read(ref _writeLsn), session.TokenLsn, session.TokenAt);

    // When the youngest write the read must see was acknowledged (a token's write: no later than it was presented).
    private long YoungestWrite(in SessionState session)
    {
        var at = Math.Max(session.LastWrite, session.TokenAt);
        return options.ReadYourWrites == ReadYourWritesScope.DataSource ? Math.Max(at, LastWrite) : at;
    }

    /// <summary>
    /// Whether a read of a session in this state should try <paramref name="held"/>, the standby that already holds the
    /// session's state (a read candidate of <paramref name="snapshot"/> not yet known to be past the session's writes),
    /// behind the guard: when its replay-delay estimate passes the test <see cref="CatchUp.GuardCandidate"/> applies, and
    /// no other standby is known to have replayed what the read must see (a read there waits for no replay, where the
    /// guard would wait about a millisecond, and the state it lacks costs one round trip). When it should,
    /// <paramref name="guard"/> is told.
    /// </summary>
    public bool GuardOnHeld(NodeState held, ClusterSnapshot snapshot, in SessionState session, IReadGuardSink guard)
    {
        var required = RequiredLsn(snapshot, session);
        if (required == 0 || required == ReadRequirement.Unresolved || !guard.CanGuard
            || held.Role != BackendRole.Standby || held.ReplayPaused == true || held.Backend.IsSuspectAfter(snapshot.StartedTimestamp))
            return false;
        foreach (var n in snapshot.ReadCandidates)
        {
            if (n.Role == BackendRole.Standby && n.Backend.Weight > 0 && !ReferenceEquals(n.Backend, held.Backend)
                && WeightedRoundRobinBalancer.IsUsable(n, snapshot, required))
                return false;
        }
        var writtenAt = YoungestWrite(session);
        return held.Backend.Replay.Expects(time.GetElapsedTime(writtenAt) + options.ReadYourWritesWait)
            && guard.GuardRead(held, required, writtenAt, exploring: false);
    }

    /// <summary>A primary writes may go to now: its last probe answered, and no statement failed on it since that probe started.</summary>
    public static bool IsUsablePrimary(ClusterSnapshot snapshot)
        => snapshot.Primary is { LastProbeOk: true } p && !p.Backend.IsSuspectAfter(snapshot.StartedTimestamp);

    /// <summary>The write target, waiting (up to <see cref="RoutingOptions.FailoverTimeout"/>) while there is none.</summary>
    public ValueTask<NodeState> PrimaryAsync(CancellationToken cancellationToken)
    {
        var s = monitor.Current;
        return IsUsablePrimary(s) ? new ValueTask<NodeState>(s.Primary!) : WaitForPrimaryAsync(cancellationToken);
    }

    private async ValueTask<NodeState> WaitForPrimaryAsync(CancellationToken cancellationToken)
    {
        monitor.EnsureStarted();
        var deadline = Deadline.After(options.FailoverTimeout, time);
        while (true)
        {
            var s = monitor.Current;
            if (IsUsablePrimary(s))
                return s.Primary!;
            if (s.Version > 0 && s.Primary is null && s.Problem == ClusterProblem.TwoPrimaries)
            {
                throw new RoutingException(RoutingFailure.TwoPrimaries,
                    $"No writable primary: {s.ProblemMessage}. Writes fail until one of them is demoted or fenced (the failover coordinator does this).",
                    clusterState: s.ProblemMessage);
            }
            if (s.Version > 0 && s.Primary is null && Misconfigured(s) is { } misconfigured)
                throw misconfigured;
            if (deadline.HasPassed)
                throw NoPrimary(s);
            var next = monitor.NextSnapshotAsync(cancellationToken);
            if (s.Version > 0)
                monitor.RequestProbe();
            try
            {
                await next.WaitAsync(deadline.Remaining, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw NoPrimary(monitor.Current);
            }
        }
    }

    /// <summary>
    /// A node to serve a read of a session in this state: an eligible standby known to have replayed what the session
    /// must see; else, when the read can carry a guard (<paramref name="guard"/>), a standby whose replay-delay
    /// estimate says it will have replayed it within <see cref="RoutingOptions.ReadYourWritesWait"/>, to be tried with
    /// the guard, which waits for it there (<see cref="IReadGuardSink"/> is told the position), or else the primary at
    /// once; a read that cannot carry one waits up to <see cref="RoutingOptions.ReadYourWritesWait"/> for a standby's
    /// real replay position (polled by the client) and takes one that has; else the primary.
    /// </summary>
    public ValueTask<NodeState> ReadNodeAsync(in SessionState session, IReadGuardSink? guard, CancellationToken cancellationToken)
    {
        // The common case answers from the current snapshot without an async state machine.
        var s = monitor.Current;
        if (s.Version != 0)
        {
            var required = RequiredLsn(s, session);
            if (balancer.Pick(s, required) is { } node)
                return new ValueTask<NodeState>(node);
            if (required == 0)
            {
                // Nothing to see (a plain read) and no standby usable: the primary, as the slow path would choose it,
                // without that path's state machine, second pick or guard search (every candidate failed the pick,
                // so none can be guarded). A primary-only cluster's reads all come here.
                if (options.PrimaryServesReads != PrimaryReadMode.Never && IsUsablePrimary(s))
                    return new ValueTask<NodeState>(s.Primary!);
            }
            else if (guard is { CanGuard: true } && required != ReadRequirement.Unresolved)
            {
                // The guard waits up to ReadYourWritesWait on the standby itself: worth trying when the write will be
                // older than the standby's replay-delay estimate by the time the guard gives up.
                var writtenAt = YoungestWrite(session);
                if (CatchUp.GuardCandidate(s, time.GetElapsedTime(writtenAt), options.ReadYourWritesWait, out var exploring) is { } likely
                    && guard.GuardRead(likely, required, writtenAt, exploring))
                {
                    return new ValueTask<NodeState>(likely);
                }
                // No standby is expected to replay it within the wait: the primary at once, not after polling for it.
                return ReadNodeSlowAsync(session, mayWait: false, cancellationToken);
            }
        }
        return ReadNodeSlowAsync(session, mayWait: true, cancellationToken);
    }

    private async ValueTask<NodeState> ReadNodeSlowAsync(SessionState session, bool mayWait, CancellationToken cancellationToken)
    {
        var s = monitor.Current;
        if (s.Version == 0)
            s = await monitor.GetReadyAsync(options.FailoverTimeout, cancellationToken).ConfigureAwait(false);
        var minimum = RequiredLsn(s, session);
        if (balancer.Pick(s, minimum) is { } node)
            return node;
        if (minimum != 0)
        {
            // Behind only because no probe has sampled the primary since the write: ask for one now.
            if (minimum == ReadRequirement.Unresolved)
                monitor.RequestProbe();
            if (mayWait && options.ReadYourWritesWait > TimeSpan.Zero && s.ReadCandidates.Length > 0)
            {
                var deadline = Deadline.After(options.ReadYourWritesWait, time);
                while (!deadline.HasPassed)
                {
                    if (minimum == ReadRequirement.Unresolved)
                    {
                        try
                        {
                            monitor.RequestProbe();
                            s = await monitor.NextSnapshotAsync(cancellationToken).WaitAsync(deadline.Remaining, time, cancellationToken).ConfigureAwait(false);
                        }
                        catch (TimeoutException)
                        {
                            break;
                        }
                        minimum = RequiredLsn(s, session);
                        if (balancer.Pick(s, minimum) is { } caughtUp)
                            return caughtUp;
                        continue;
                    }
                    // The position is known: ask the standbys themselves how far they have replayed, not the next probe.
                    if (await CatchUp.WaitForReplayAsync(monitor, minimum, deadline, options.HealthCheckTimeout, time, cancellationToken).ConfigureAwait(false) is { } replayed)
                        return replayed;
                    break;
                }
            }
        }
        if (options.PrimaryServesReads == PrimaryReadMode.Never)
            return await StandbyAsync(session, cancellationToken).ConfigureAwait(false);
        return await PrimaryAsync(cancellationToken).ConfigureAwait(false);
    }

    // PrimaryServesReads = Never: the read waits (up to FailoverTimeout) for a standby that can serve it, as a write
    // waits for a primary.
    private async ValueTask<NodeState> StandbyAsync(SessionState session, CancellationToken cancellationToken)
    {
        var deadline = Deadline.After(options.FailoverTimeout, time);
        while (true)
        {
            var s = monitor.Current;
            if (balancer.Pick(s, RequiredLsn(s, session)) is { } node)
                return node;
            if (deadline.HasPassed)
                throw NoStandby(s);
            var next = monitor.NextSnapshotAsync(cancellationToken);
            monitor.RequestProbe();
            try
            {
                await next.WaitAsync(deadline.Remaining, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw NoStandby(monitor.Current);
            }
        }
    }

    private RoutingException NoPrimary(ClusterSnapshot s)
        => new(RoutingFailure.NoPrimary,
            $"No writable primary after waiting {options.FailoverTimeout.TotalSeconds:0.#} s ({s.ProblemMessage ?? "none found"}). Nothing was sent; retry later. Backends: {InWords(s)}.",
            clusterState: s.ProblemMessage);

    // Waiting cannot help when every server that might be the primary rejects the configured connection for good
    // (the others answer as standbys): say so now, not after FailoverTimeout as if it were an outage.
    private static RoutingException? Misconfigured(ClusterSnapshot s)
    {
        var rejecting = new List<NodeState>();
        foreach (var n in s.Nodes)
        {
            if (n.PermanentError is not null)
                rejecting.Add(n);
            else if (n.Role != BackendRole.Standby || !n.LastProbeOk)
                return null;
        }
        if (rejecting.Count == 0)
            return null;
        var detail = string.Join("; ", rejecting.Select(n =>
            $"{n.Backend.Name} ({n.Backend.Host}:{n.Backend.Port.ToString(CultureInfo.InvariantCulture)}): {n.LastError} ({n.PermanentError})"));
        return new RoutingException(RoutingFailure.Misconfigured,
            $"No writable primary: {detail}. This does not pass by itself: fix the configuration, retrying does not help. Nothing was sent.",
            backendName: rejecting[0].Backend.Name, clusterState: s.ProblemMessage);
    }

    private RoutingException NoStandby(ClusterSnapshot s)
        => new(RoutingFailure.NoStandby,
            $"No standby could serve the read within {options.FailoverTimeout.TotalSeconds:0.#} s, and the primary serves no reads (RoutingOptions.PrimaryServesReads = Never). Nothing was sent; retry later. Backends: {InWords(s)}.",
            clusterState: s.ProblemMessage);

    private static string InWords(ClusterSnapshot s) => string.Join("; ", s.Nodes.Select(n =>
        $"{n.Backend.Name} ({n.Backend.Host}:{n.Backend.Port.ToString(CultureInfo.InvariantCulture)}): {n.Role.ToString().ToLowerInvariant()}, {n.State.ToString().ToLowerInvariant()}"
        + (n.LastError is { } e ? $", last error: {e}" : "")
        + (n.Reason is { } r && n.LastError is null ? $", {r}" : "")));
}
