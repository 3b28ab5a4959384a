using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// Brings members back through their node agents, with nobody at a keyboard: every round with a healthy primary, a
/// member that answers as a primary but is not the cluster's one, or a standby whose repoint did not make it stream
/// (a diverged history), is ordered to rejoin (pg_rewind, else a rebuild, as <see cref="CoordinatorOptions.Rejoin"/>
/// allows); a member that does not answer is asked for its local facts: a stopped standby is started, a stopped old
/// primary rejoins without ever being started as a primary. One order per member at a time, in the background; a
/// failed one is tried again after a pause. Every order passes the mutation guard (in HA mode: only while leading)
/// and carries the leader's fencing token.
/// </summary>
internal sealed class Rejoins(CoordinatorOptions options, Mutations mutations, Followers followers, ILogger logger, TimeProvider time, Func<long?> fencingToken,
    Func<string, Ha.AgentReport, CancellationToken, Task> record, CancellationToken stop)
{
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan AskDownEvery = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _notBefore = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _reports = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _byHand = new(StringComparer.Ordinal);

    /// <summary>What the last order to <paramref name="name"/>'s agent did, or is doing; null when none was sent.</summary>
    public string? Report(string name) => _reports.GetValueOrDefault(name);

    /// <summary>Whether an order to <paramref name="name"/>'s agent is running.</summary>
    public bool IsBusy(string name) => _running.ContainsKey(name);

    /// <summary>One round's decisions, with <paramref name="primary"/> healthy and no operation in progress.</summary>
    public void Reconcile(Member primary, IEnumerable<Member> members, MemberObservation[] observations)
    {
        foreach (var m in members)
        {
            if (m == primary || _running.ContainsKey(m.Name) || time.GetTimestamp() < _notBefore.GetValueOrDefault(m.Name))
                continue;
            var o = observations[m.Index].Probe;
            var timeline = observations[primary.Index].Probe.Timeline ?? 0;
            if (o.Reachable && !o.InRecovery && (o.Timeline ?? 0) >= timeline)
            {
                // Same timeline as the primary: which of the two holds the acknowledged commits is not known here.
                MayOrder(m, primary, string.Create(CultureInfo.InvariantCulture, $"it answers as a primary on timeline {o.Timeline}, not lower than {primary.Name}'s"), byHand: "which one is right cannot be told");
                continue;
            }
            var why = o.Reachable && !o.InRecovery
                ? string.Create(CultureInfo.InvariantCulture, $"it answers as a primary on timeline {o.Timeline} while {primary.Name} is the cluster's primary on timeline {timeline}")
                : o is { Reachable: true, InRecovery: true } && followers.IsStuck(m.Name) ? $"repointed to {primary.Name}, it does not stream (its history diverged)"
                : null;
            if (why is not null)
            {
                if (MayOrder(m, primary, why))
                    Start(m, () => OrderAsync(m, primary, AgentOrderKind.Rejoin, why));
                else if (o.Reachable && !o.InRecovery && observations[m.Index].Details is { FencedReadOnly: false })
                    Start(m, () => FenceReadOnlyAsync(m, why));
            }
            else if (o is { Reachable: true, InRecovery: true } && observations[m.Index].Details is { FencedReadOnly: true })
            {
                // Fenced earlier (by any leader): a standby must not keep it, or it would refuse writes once promoted.
                Start(m, () => UnfenceAsync(m));
            }
            else if (!o.Reachable && m.Agent is not null)
            {
                _notBefore[m.Name] = time.GetTimestamp() + (long)(AskDownEvery.TotalSeconds * time.TimestampFrequency);
                Start(m, () => AskDownAsync(m, primary, timeline));
            }
            else if (o.Reachable)
            {
                _byHand.TryRemove(m.Name, out _);
            }
        }
    }

    /// <summary>Whether the rejoin may be ordered; when not (no agent, Rejoin manual), says so once.</summary>
    private bool MayOrder(Member m, Member primary, string why, string? byHand = null)
    {
        var reason = byHand ?? (m.Agent is null ? "it has no agent" : options.Rejoin == RejoinPolicy.Manual ? "Rejoin is manual" : null);
        if (reason is null)
            return true;
        if (_byHand.TryAdd(m.Name, why))
            Log.RejoinByHand(logger, m.Name, primary.Name, why, reason);
        _reports[m.Name] = $"must rejoin {primary.Name} ({why}); {reason}";
        return false;
    }

    /// <summary>
    /// No agent may demote it: the server is made read-only and its client sessions ended, so that clients that reach
    /// it directly (not through a data source, which already routes nothing to it) stop writing to it.
    /// </summary>
    private async Task FenceReadOnlyAsync(Member m, string why)
    {
        try
        {
            var sessions = await mutations.FenceReadOnlyAsync(m, stop).ConfigureAwait(false);
            Log.FencedReadOnly(logger, m.Name, why, sessions);
            _reports[m.Name] = string.Create(CultureInfo.InvariantCulture, $"fenced read-only at {time.GetUtcNow():HH:mm:ss} ({sessions} client sessions ended); {_reports.GetValueOrDefault(m.Name)}");
        }
        catch (Ha.NotLeaderException)
        {
        }
        catch (Exception e) when (ServerErrors.Matches(e, stop))
        {
            Log.FenceFailed(logger, m.Name, BackendProbe.Describe(e));
        }
        // The next probes show the fence; until then, not again.
        _notBefore[m.Name] = time.GetTimestamp() + (long)(AskDownEvery.TotalSeconds * time.TimestampFrequency);
    }

    private async Task UnfenceAsync(Member m)
    {
        try
        {
            await mutations.UnfenceAsync(m, stop).ConfigureAwait(false);
            Log.Unfenced(logger, m.Name);
        }
        catch (Ha.NotLeaderException)
        {
        }
        catch (Exception e) when (ServerErrors.Matches(e, stop))
        {
        }
        _notBefore[m.Name] = time.GetTimestamp() + (long)(AskDownEvery.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>A member that does not answer: its agent says whether the server is stopped, and as what.</summary>
    private async Task AskDownAsync(Member m, Member primary, int timeline)
    {
        LocalFacts facts;
        try
        {
            facts = await m.Agent!.FactsAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !stop.IsCancellationRequested)
        {
            _reports[m.Name] = $"agent at {m.Agent!.Address} unreachable: {e.Message}";
            return;
        }
        if (facts.Busy is not null || facts.Running)
            return; // starting, or reachable only by its own host: nothing to do from here
        if (!facts.DataDirectoryExists)
        {
            if (options.AutoRebuild)
                await OrderAsync(m, primary, AgentOrderKind.Rebuild, $"stopped, {facts.Problem} (AutoRebuild is on)").ConfigureAwait(false);
            else
                _reports[m.Name] = $"stopped, {facts.Problem}: routing-coordinator recover {m.Name} rebuilds it (or AutoRebuild)";
            return;
        }
        if (facts.StandbySignal)
        {
            await OrderAsync(m, primary, AgentOrderKind.Start, $"a stopped standby ({OrderRunner.Describe(facts)})").ConfigureAwait(false);
            return;
        }
        var why = $"a stopped old primary ({OrderRunner.Describe(facts)}): it rejoins without being started as a primary";
        var byHand = facts.Timeline is { } t && t >= timeline
            ? $"its control file's timeline {t} is not lower than {primary.Name}'s" : null;
        if (MayOrder(m, primary, why, byHand))
            await OrderAsync(m, primary, AgentOrderKind.Rejoin, why).ConfigureAwait(false);
    }

    /// <summary>After a switchover: the old primary, shut down cleanly, follows the new one (a demote; the rounds rejoin it if that fails).</summary>
    public void Demote(Member old, Member primary, string why) => Start(old, () => OrderAsync(old, primary, AgentOrderKind.Demote, why));

    /// <summary>
    /// An operator's order (<c>routing-coordinator recover</c>): sent now, awaited; Conflict while another order to
    /// that member runs.
    /// </summary>
    public async Task<Outcome> RunNowAsync(Member m, Member primary, AgentOrderKind kind, string why)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(m.Name, done.Task))
            return Outcome.Conflict($"an order to {m.Name}'s agent is running already: {Report(m.Name)}");
        try
        {
            var (ok, report) = await OrderAsync(m, primary, kind, why).ConfigureAwait(false);
            return ok ? Outcome.Ok(new { member = m.Name, result = report }) : Outcome.Failed($"{m.Name}: {report}");
        }
        finally
        {
            _running.TryRemove(new KeyValuePair<string, Task>(m.Name, done.Task));
            done.TrySetResult();
        }
    }

    private async Task<(bool Ok, string Report)> OrderAsync(Member m, Member primary, AgentOrderKind kind, string why)
    {
        if (fencingToken() is not { } term)
            return (false, "not sent: this coordinator does not lead");
        var upstream = new Upstream(primary.Name, primary.ReplicationHost, primary.ReplicationPort, m.SlotName);
        var order = new AgentOrder(m.Name, kind, term, options.Name, upstream, options.Rejoin);
        var started = time.GetTimestamp();
        _reports[m.Name] = $"{kind.ToString().ToLowerInvariant()} running (since {time.GetUtcNow():HH:mm:ss}): {why}";
        followers.Forget(m.Name);
        try
        {
            // Recorded before it is sent (HA mode: in etcd), so that whoever leads next knows what may be under way.
            await record(m.Name, Report("running", why), stop).ConfigureAwait(false);
            if (kind is AgentOrderKind.Rejoin or AgentOrderKind.Rebuild or AgentOrderKind.Demote)
                await mutations.CreateSlotAsync(primary, m.SlotName, stop).ConfigureAwait(false);
            if (kind is AgentOrderKind.Rejoin or AgentOrderKind.Rebuild)
            {
                // The slot first (it holds the WAL the rewound or copied server needs from now on), then a checkpoint so
                // that the primary's control file names its timeline, which pg_rewind reads.
                if (!await ServerActions.CheckpointAsync(primary, stop).ConfigureAwait(false))
                    why += $"; {primary.Name}'s control file does not show its timeline yet";
            }
            Log.AgentOrdered(logger, m.Name, kind.ToString(), why, $"{primary.Name} ({primary.ReplicationHost}:{primary.ReplicationPort}, slot {m.SlotName})", term);
            var answer = await mutations.OrderAsync(m, order, stop).ConfigureAwait(false);
            var elapsed = (long)time.GetElapsedTime(started).TotalMilliseconds;
            if (answer.Result is { Succeeded: true } done)
            {
                Log.AgentDone(logger, m.Name, kind.ToString(), elapsed, done.How ?? "", string.Join("; ", done.Steps));
                _reports[m.Name] = string.Create(CultureInfo.InvariantCulture, $"{done.How} ({elapsed} ms, {time.GetUtcNow():HH:mm:ss})");
                followers.Unstick(m.Name);
                _byHand.TryRemove(m.Name, out _);
                await record(m.Name, Report("done", $"{done.How} in {elapsed} ms; steps: {string.Join("; ", done.Steps)}"), stop).ConfigureAwait(false);
                return (true, _reports[m.Name]);
            }
            var error = answer.Result is { } failed ? $"{failed.Error} (steps: {string.Join("; ", failed.Steps)})" : $"HTTP {answer.Status}: {answer.Error}";
            Failed(error);
            await record(m.Name, Report("failed", error), stop).ConfigureAwait(false);
        }
        catch (Ha.NotLeaderException)
        {
            _reports[m.Name] = $"{kind.ToString().ToLowerInvariant()} not sent: this coordinator no longer leads";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or System.Text.Json.JsonException || ServerErrors.Matches(e, stop))
        {
            Failed(e.Message);
        }
        return (false, _reports[m.Name]);

        Ha.AgentReport Report(string state, string detail) => new(kind.ToString(), state, detail, term, options.Name, time.GetUtcNow());

        void Failed(string error)
        {
            Log.AgentFailed(logger, m.Name, kind.ToString(), error, (long)RetryAfterFailure.TotalSeconds);
            _reports[m.Name] = $"{kind.ToString().ToLowerInvariant()} failed: {error}";
            _notBefore[m.Name] = time.GetTimestamp() + (long)(RetryAfterFailure.TotalSeconds * time.TimestampFrequency);
        }
    }

    private void Start(Member m, Func<Task> work)
    {
        var task = new Task<Task>(work);
        var unwrapped = task.Unwrap();
        if (!_running.TryAdd(m.Name, unwrapped))
            return;
        _ = unwrapped.ContinueWith(t => _running.TryRemove(new KeyValuePair<string, Task>(m.Name, t)), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        task.Start(TaskScheduler.Default);
    }

    /// <summary>Waits (bounded) for the orders in flight; the stop token given at construction ends them.</summary>
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
}
