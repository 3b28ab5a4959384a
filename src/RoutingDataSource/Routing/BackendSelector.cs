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

    /// <summary>The last write acknowledged through the data source (0: none).</summary>
    public long LastWrite => Volatile.Read(ref _lastWrite);

    /// <summary>Remembers that a write was acknowledged at <paramref name="timestamp"/> (only in the DataSource scope is it read).</summary>
    public void MarkWrite(long timestamp)
    {
        if (options.ReadYourWrites != ReadYourWritesScope.DataSource)
            return;
        var seen = Volatile.Read(ref _lastWrite);
        while (timestamp > seen)
        {
            var was = Interlocked.CompareExchange(ref _lastWrite, timestamp, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>The replay position a standby needs to serve a read of a session with these marks (see <see cref="ReadRequirement"/>).</summary>
    public ulong RequiredLsn(ClusterSnapshot snapshot, long connectionWrite, ulong tokenLsn, long tokenAt)
        => ReadRequirement.MinimumLsn(snapshot, options.ReadYourWrites, connectionWrite, LastWrite, tokenLsn, tokenAt);

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
    /// A node to serve a read of a session with these marks: an eligible standby that has replayed what the session
    /// must see, waiting up to <see cref="RoutingOptions.ReadYourWritesWait"/> for one; else the primary.
    /// </summary>
    public ValueTask<NodeState> ReadNodeAsync(long connectionWrite, ulong tokenLsn, long tokenAt, CancellationToken cancellationToken)
    {
        // The common case answers from the current snapshot without an async state machine.
        var s = monitor.Current;
        if (s.Version != 0 && balancer.Pick(s, RequiredLsn(s, connectionWrite, tokenLsn, tokenAt)) is { } node)
            return new ValueTask<NodeState>(node);
        return ReadNodeSlowAsync(connectionWrite, tokenLsn, tokenAt, cancellationToken);
    }

    private async ValueTask<NodeState> ReadNodeSlowAsync(long connectionWrite, ulong tokenLsn, long tokenAt, CancellationToken cancellationToken)
    {
        var s = monitor.Current;
        if (s.Version == 0)
            s = await monitor.GetReadyAsync(options.FailoverTimeout, cancellationToken).ConfigureAwait(false);
        var minimum = RequiredLsn(s, connectionWrite, tokenLsn, tokenAt);
        if (balancer.Pick(s, minimum) is { } node)
            return node;
        if (minimum != 0)
        {
            // Behind only because no probe has sampled the primary since the write: ask for one now.
            if (minimum == ReadRequirement.Unresolved)
                monitor.RequestProbe();
            if (options.ReadYourWritesWait > TimeSpan.Zero && s.ReadCandidates.Length > 0)
            {
                var deadline = Deadline.After(options.ReadYourWritesWait, time);
                while (!deadline.HasPassed)
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
                    if (balancer.Pick(s, RequiredLsn(s, connectionWrite, tokenLsn, tokenAt)) is { } caughtUp)
                        return caughtUp;
                }
            }
        }
        if (options.PrimaryServesReads == PrimaryReadMode.Never)
            return await StandbyAsync(connectionWrite, tokenLsn, tokenAt, cancellationToken).ConfigureAwait(false);
        return await PrimaryAsync(cancellationToken).ConfigureAwait(false);
    }

    // PrimaryServesReads = Never: the read waits (up to FailoverTimeout) for a standby that can serve it, as a write
    // waits for a primary.
    private async ValueTask<NodeState> StandbyAsync(long connectionWrite, ulong tokenLsn, long tokenAt, CancellationToken cancellationToken)
    {
        var deadline = Deadline.After(options.FailoverTimeout, time);
        while (true)
        {
            var s = monitor.Current;
            if (balancer.Pick(s, RequiredLsn(s, connectionWrite, tokenLsn, tokenAt)) is { } node)
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
