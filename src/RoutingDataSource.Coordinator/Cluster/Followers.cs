using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Configuration;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// Makes the standbys follow a new primary: its slot for each on the primary, then <c>primary_conninfo</c> and
/// <c>primary_slot_name</c> on the standby, then a bounded wait until the primary reports it streaming. One task
/// per standby at a time; a standby that was down or failed stays pending and is tried again when it answers. The slot
/// of one that has not followed within <c>UnusedSlotTimeout</c> is dropped (it would hold WAL on the primary without
/// bound) and made again when it is next tried.
/// </summary>
internal sealed class Followers(CoordinatorOptions options, Mutations mutations, ILogger logger, TimeProvider time, CancellationToken stop)
{
    private static readonly TimeSpan RetryAfterTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryAfterError = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StreamPoll = TimeSpan.FromMilliseconds(100);

    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    // Repointed, but not streaming within FollowTimeout: its history may have diverged (see Rejoins).
    private readonly ConcurrentDictionary<string, byte> _stuck = new(StringComparer.Ordinal);
    private long _promotedAt;

    /// <summary>
    /// Every one of <paramref name="standbys"/> is to follow <paramref name="primary"/>, starting now: after a
    /// promotion (<paramref name="promotion"/>, which the "streams from" log times from), or found following another.
    /// </summary>
    public void Assign(IEnumerable<Member> standbys, Member primary, bool promotion = true)
    {
        if (promotion)
            Interlocked.Exchange(ref _promotedAt, time.GetTimestamp());
        foreach (var standby in standbys)
        {
            _pending[standby.Name] = new Pending(primary.Name, time.GetTimestamp());
            Start(standby, primary);
        }
    }

    /// <summary>Whether <paramref name="name"/> is still to be made to follow a primary.</summary>
    public bool IsPending(string name) => _pending.ContainsKey(name);

    /// <summary>Whether <paramref name="name"/> was repointed but did not stream within FollowTimeout since.</summary>
    public bool IsStuck(string name) => _stuck.ContainsKey(name);

    /// <summary>Forgets that <paramref name="name"/> did not stream (its agent brought it back).</summary>
    public void Unstick(string name) => _stuck.TryRemove(name, out _);

    /// <summary>Drops a member (e.g. fenced: it needs pg_rewind first).</summary>
    public void Forget(string name) => _pending.TryRemove(name, out _);

    /// <summary>
    /// Each round: pending followers of another primary than <paramref name="primary"/> are dropped, those already
    /// streaming are done, and those answering again as standbys are tried again (after a delay when they failed).
    /// </summary>
    public void Reconcile(string? primary, ClusterSnapshot snapshot, MemberObservation[] observations, Func<string, Member?> find)
    {
        foreach (var (name, entry) in _pending)
        {
            if (!string.Equals(entry.Primary, primary, StringComparison.Ordinal) || find(entry.Primary) is not { } p || find(name) is not { } m)
            {
                _pending.TryRemove(new KeyValuePair<string, Pending>(name, entry));
                continue;
            }
            if (snapshot.Nodes[p.Index].LastObservation?.Replication.Any(r => r.ApplicationName == name && r.State == "streaming") == true)
            {
                _pending.TryRemove(new KeyValuePair<string, Pending>(name, entry));
                continue;
            }
            if (observations[m.Index].Probe is { Reachable: true, InRecovery: true } && entry.Due(time))
                Start(m, p);
            else if (entry.SlotUnused(time, options.UnusedSlotTimeout) && !_running.ContainsKey(name))
                _ = DropSlotAsync(m, p, entry);
        }
    }

    private async Task DropSlotAsync(Member standby, Member primary, Pending entry)
    {
        if (!entry.TryMarkSlotDropped())
            return;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
        bound.CancelAfter(options.FollowTimeout);
        try
        {
            if (await mutations.DropSlotAsync(primary, standby.SlotName, bound.Token).ConfigureAwait(false))
                Log.SlotDropped(logger, standby.SlotName, primary.Name, standby.Name, (long)time.GetElapsedTime(entry.Since).TotalSeconds);
        }
        catch (Ha.NotLeaderException)
        {
            entry.SlotMade();
        }
        catch (Exception e) when (ServerErrors.Matches(e, stop))
        {
            entry.SlotMade(); // try again next round
            Log.SlotDropFailed(logger, standby.SlotName, primary.Name, BackendProbe.Describe(e));
        }
    }

    private void Start(Member standby, Member primary)
    {
        if (_running.ContainsKey(standby.Name))
            return;
        var work = new Task<Task>(() => FollowAsync(standby, primary));
        var task = work.Unwrap();
        if (!_running.TryAdd(standby.Name, task))
            return;
        _ = task.ContinueWith(t => _running.TryRemove(new KeyValuePair<string, Task>(standby.Name, t)), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        work.Start(TaskScheduler.Default);
    }

    private async Task FollowAsync(Member standby, Member primary)
    {
        var entry = _pending.GetValueOrDefault(standby.Name);
        var conninfo = ReplicationConnInfo.Render(options.ReplicationConnInfo!, primary.ReplicationHost, primary.ReplicationPort, standby.Name);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
        bound.CancelAfter(options.FollowTimeout + TimeSpan.FromSeconds(10));
        try
        {
            await mutations.CreateSlotAsync(primary, standby.SlotName, bound.Token).ConfigureAwait(false);
            entry?.SlotMade();
            // Assigned to another primary meanwhile (a failover while this waited on a dead server): never repoint to
            // this one, which may be an old primary.
            if (!_pending.TryGetValue(standby.Name, out var current) || !string.Equals(current.Primary, primary.Name, StringComparison.Ordinal))
                return;
            await mutations.RepointAsync(standby, primary, conninfo, standby.SlotName, bound.Token).ConfigureAwait(false);
            Log.Repointed(logger, standby.Name, primary.Name, standby.SlotName);
            var until = time.GetTimestamp() + (long)(options.FollowTimeout.TotalSeconds * time.TimestampFrequency);
            while (!await ServerActions.IsStreamingAsync(primary, standby.Name, bound.Token).ConfigureAwait(false))
            {
                if (time.GetTimestamp() >= until)
                {
                    Log.FollowFailed(logger, standby.Name, primary.Name,
                        $"repointed, but not streaming after {options.FollowTimeout.TotalSeconds:0} s (a standby that got ahead of the new primary needs pg_rewind; see its server log)");
                    entry?.Delay(time, RetryAfterTimeout);
                    _stuck[standby.Name] = 0;
                    return;
                }
                await Task.Delay(StreamPoll, time, bound.Token).ConfigureAwait(false);
            }
            _stuck.TryRemove(standby.Name, out _);
            Log.Following(logger, standby.Name, primary.Name, (long)time.GetElapsedTime(Interlocked.Read(ref _promotedAt)).TotalMilliseconds);
            if (entry is not null)
                _pending.TryRemove(new KeyValuePair<string, Pending>(standby.Name, entry));
        }
        catch (Exception e) when (ServerErrors.Matches(e, stop))
        {
            Log.FollowFailed(logger, standby.Name, primary.Name, BackendProbe.Describe(e));
            entry?.Delay(time, RetryAfterError);
        }
        catch (Ha.NotLeaderException)
        {
            // This coordinator stopped leading: the guard logged it; the next leader repoints.
            entry?.Delay(time, RetryAfterError);
        }
    }

    /// <summary>Waits (bounded) for the running repoints; the stop token given at construction ends them.</summary>
    public async Task DrainAsync()
    {
        try
        {
            await Task.WhenAll(_running.Values).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
        }
    }

    /// <summary>A follower still to be repointed at <see cref="Primary"/> (since <see cref="Since"/>), when it may next be tried, and whether its slot there is dropped.</summary>
    private sealed class Pending(string primary, long since)
    {
        private long _notBefore;
        private int _slotDropped;

        public string Primary { get; } = primary;

        public long Since { get; } = since;

        /// <summary>Not followed within <paramref name="timeout"/> and its slot not dropped yet.</summary>
        public bool SlotUnused(TimeProvider time, TimeSpan timeout) => Volatile.Read(ref _slotDropped) == 0 && time.GetElapsedTime(Since) >= timeout;

        public bool TryMarkSlotDropped() => Interlocked.Exchange(ref _slotDropped, 1) == 0;

        public void SlotMade() => Volatile.Write(ref _slotDropped, 0);

        public bool Due(TimeProvider time) => time.GetTimestamp() >= Interlocked.Read(ref _notBefore);

        public void Delay(TimeProvider time, TimeSpan delay) =>
            Interlocked.Exchange(ref _notBefore, time.GetTimestamp() + (long)(delay.TotalSeconds * time.TimestampFrequency));
    }
}
