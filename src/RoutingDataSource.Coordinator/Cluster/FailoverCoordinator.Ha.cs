using System.Globalization;
using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// HA mode's part of the loop: a new leader reads the durable state before it acts (the last primary, the detached
/// members, an operation in progress), records each promotion before <c>pg_promote</c> and its result after, and
/// finishes an operation another leader left unfinished, with the same candidate, idempotently.
/// </summary>
internal sealed partial class FailoverCoordinator
{
    // The fencing token of the term whose durable state this coordinator has read (0: none yet).
    private long _actedTerm;

    /// <summary>
    /// Once per term, before its first decision: reads the durable state. A coordinator that never saw a primary
    /// (started during an outage) takes the last one recorded, so that the normal verdict can find it dead and fail
    /// over. False while the state cannot be read: no decision without it.
    /// </summary>
    private async Task<bool> TakeOverAsync(CancellationToken ct)
    {
        if (_ha!.FencingToken is not { } token)
            return false;
        if (token == Interlocked.Read(ref _actedTerm))
            return true;
        ClusterState state;
        try
        {
            state = await _ha.ReadStateAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (EtcdConnection.IsUnavailable(e) && !ct.IsCancellationRequested)
        {
            HaLog.StateWriteFailed(_logger, "read at the start of a term", e.Message);
            return false;
        }
        ApplyDurableState(state);
        if (_primary is null && state.Primary.Value is { } last && Find(last.Name) is not null)
        {
            _primary = last.Name;
            _detector.Reset(last.Name);
            HaLog.State(_logger, string.Create(CultureInfo.InvariantCulture, $"no primary seen yet: taking the last one recorded, {last.Name} (timeline {last.Timeline})"));
        }
        if (_primarySync is null && state.Synchronous.Value is { } sync)
            _primarySync = sync.StandbyNames;
        Interlocked.Exchange(ref _actedTerm, token);
        HaLog.State(_logger, $"term {token} begins: primary {state.Primary.Value?.Name ?? "(none recorded)"}, operation {Describe(state.Operation.Value)}, {state.History.Value?.Entries.Count ?? 0} failovers in the history");
        await AnnounceTermAsync(token, ct).ConfigureAwait(false);
        return true;
    }

    // How long a new leader waits for the agents to record its term before its first decision (an agent that does not
    // answer by then still gets the announcement when it does; a real order carries the token anyway).
    private static readonly TimeSpan AnnounceWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan AnnounceBound = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Sends every agent a no-op order with this term's fencing token, so that each refuses a deposed leader's orders
    /// from now on, not only once this leader has ordered it something. Waits at most <see cref="AnnounceWait"/>.
    /// </summary>
    private async Task AnnounceTermAsync(long token, CancellationToken ct)
    {
        var agents = Members.Where(m => m.Agent is not null).ToArray();
        if (agents.Length == 0)
            return;
        var answers = agents.Select(m => AnnounceAsync(m, token, ct)).ToArray();
        var all = Task.WhenAll(answers);
        _ = all.ContinueWith(t => Log.TermAnnounced(_logger, token, string.Join("; ", t.Result)), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        await Task.WhenAny(all, Task.Delay(AnnounceWait, ct)).ConfigureAwait(false);
    }

    private async Task<string> AnnounceAsync(Member member, long token, CancellationToken ct)
    {
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(AnnounceBound);
            var answer = await _mutations.OrderAsync(member, new AgentOrder(member.Name, AgentOrderKind.Announce, token, Name), bound.Token).ConfigureAwait(false);
            return answer.Result is { Succeeded: true } ? $"{member.Name} recorded it" : $"{member.Name} answered {answer.Status}: {answer.Error}";
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or NotLeaderException or System.Text.Json.JsonException || EtcdConnection.IsUnavailable(e))
        {
            return $"{member.Name} not reached: {e.Message}";
        }
    }

    /// <summary>
    /// An operation recorded in progress (by this leader or an earlier one) is carried on with its candidate, never
    /// another one: promoted already, the others follow it and the operation is finished once they stream; still a
    /// standby, it is promoted (again: idempotent); not answering, nothing is promoted until the operation's bound has
    /// passed, after which it is abandoned (a promotion cannot complete on a server that is down: a restart removes
    /// its promote signal). True when this round belongs to the operation (no other decision).
    /// </summary>
    private async Task<bool> ContinueOperationAsync(MemberObservation[] observations, CancellationToken ct)
    {
        if (_ha?.State?.Operation.Value is not { } op)
            return false;
        if (Find(op.To) is not { } target)
        {
            await AbandonAsync(op, $"{op.To} is not a member any more", ct).ConfigureAwait(false);
            return false;
        }
        var o = observations[target.Index];
        var resumedFromAnother = op.FencingToken != _ha.FencingToken;
        if (o.Probe is { Reachable: true, InRecovery: false })
        {
            if (!string.Equals(_primary, target.Name, StringComparison.Ordinal) || resumedFromAnother)
            {
                HaLog.State(_logger, $"resuming {Describe(op)}: {target.Name} is primary now; the others follow it");
                _primary = target.Name;
                _detector.Reset(target.Name);
                _verdict = null;
                _cutOff = null;
                _decision = $"resumed {Describe(op)}: {target.Name} is primary, repointing the others";
                _followers.Assign(Members.Where(m => m != target && observations[m.Index].Probe is { Reachable: true, InRecovery: true } && !_followers.IsPending(m.Name)), target);
                await _ha.UpdateStateAsync($"{Describe(op)} continues at {OperationStep.Repointing}",
                    s => s.WithOperation(op.At(OperationStep.Repointing, _ha.Name, _ha.FencingToken ?? 0)), ct).ConfigureAwait(false);
                return true;
            }
            var rows = o.Probe.Replication;
            var lagging = Members.Where(m => m != target && observations[m.Index].Probe is { Reachable: true, InRecovery: true }
                && !rows.Any(r => string.Equals(r.ApplicationName, m.Name, StringComparison.OrdinalIgnoreCase) && r.State == "streaming")).Select(m => m.Name).ToArray();
            // A standby that cannot follow (it needs pg_rewind) must not hold every later decision: bounded.
            var followBound = _options.CatchUpTimeout + _options.PromoteTimeout + (2 * _options.FollowTimeout);
            if (lagging.Length > 0 && _time.GetUtcNow() - op.StartedAt < followBound)
                return true;
            var timeline = o.Probe.Timeline ?? 0;
            var how = lagging.Length == 0 ? "every standby that answers streams from it" : $"not following yet: {string.Join(", ", lagging)} (the round's reconcile keeps trying)";
            await _ha.UpdateStateAsync(string.Create(CultureInfo.InvariantCulture, $"{Describe(op)} finished: {target.Name} is primary on timeline {timeline}, {how}"),
                s => s.Finish(new FailoverHistoryEntry(op.Kind, op.From, op.To, timeline, op.StartedAt, _time.GetUtcNow(), _ha.Name))
                    .WithSynchronous(new SynchronousSet(_primarySync, [])), ct).ConfigureAwait(false);
            return false;
        }
        if (o.Probe is { Reachable: true, InRecovery: true })
        {
            HaLog.State(_logger, $"resuming {Describe(op)}: {target.Name} is still a standby; promoting it again (no other candidate while its promotion may still complete)");
            var old = op.From is { } from ? Find(from) : null;
            var sync = SyncStandbyNames.Parse(_ha.State?.Synchronous.Value?.StandbyNames ?? _primarySync);
            await PromoteAsync(target, old, sync, FailoverTrigger.Automatic, $"resuming {Describe(op)}", ct, op.Kind).ConfigureAwait(false);
            return true;
        }
        var bound = _options.CatchUpTimeout + _options.PromoteTimeout + TimeSpan.FromSeconds(10);
        if (_time.GetUtcNow() - op.StartedAt > bound)
        {
            await AbandonAsync(op, $"{target.Name} does not answer ({o.Probe.Error}) and the operation began over {bound.TotalSeconds:0} s ago", ct).ConfigureAwait(false);
            return false;
        }
        _decision = $"waiting for {target.Name} ({Describe(op)}): it does not answer ({o.Probe.Error}) but its promotion may still complete; no other candidate before {bound.TotalSeconds:0} s";
        return true;
    }

    private async Task AbandonAsync(OperationRecord op, string why, CancellationToken ct)
    {
        _decision = $"{Describe(op)} abandoned: {why}";
        await _ha!.UpdateStateAsync(_decision, s => s.WithOperation(null), ct).ConfigureAwait(false);
    }

    /// <summary>The leader records the primary it sees and its synchronous set when they change (no operation in progress).</summary>
    private async Task RecordPrimaryAsync(ClusterSnapshot snapshot, CancellationToken ct)
    {
        if (_ha is not { State: { } state } || !MayAct || state.Operation.Value is not null || snapshot.Primary is not { } seen)
            return;
        var name = seen.Backend.Name;
        var timeline = (long)(seen.Timeline ?? 0);
        var primaryChanged = state.Primary.Value is not { } p || p.Name != name || p.Timeline != timeline;
        var syncChanged = _primarySync is not null && state.Synchronous.Value?.StandbyNames != _primarySync;
        if (!primaryChanged && !syncChanged)
            return;
        var names = SyncStandbyNames.Parse(_primarySync)?.Names.ToArray() ?? [];
        await _ha.UpdateStateAsync(string.Create(CultureInfo.InvariantCulture, $"primary {name} on timeline {timeline}, synchronous_standby_names '{_primarySync}'"),
            s => s.WithPrimary(new PrimaryRecord(name, timeline)).WithSynchronous(_primarySync is null ? s.Synchronous.Value : new SynchronousSet(_primarySync, names)), ct).ConfigureAwait(false);
    }

    /// <summary>Before <c>pg_promote</c>: the operation at its Promoting step (alone: nothing to record). False when it could not be recorded.</summary>
    private async Task<bool> RecordPromotingAsync(OperationKind kind, Member candidate, Member? oldPrimary, CancellationToken ct)
    {
        if (_ha is null)
            return true;
        var current = _ha.State?.Operation.Value;
        var op = current is not null && current.To == candidate.Name
            ? current.At(OperationStep.Promoting, _ha.Name, _ha.FencingToken ?? 0)
            : new OperationRecord(kind, OperationStep.Promoting, oldPrimary?.Name, candidate.Name,
                oldPrimary is null ? null : _snapshot.Nodes[oldPrimary.Index].Timeline, _time.GetUtcNow(), _ha.Name, _ha.FencingToken ?? 0);
        return await _ha.UpdateStateAsync($"{Describe(op)} recorded before pg_promote", s => s.WithOperation(op), ct).ConfigureAwait(false);
    }

    /// <summary>After a successful <c>pg_promote</c>: the operation moves to its Repointing step; it is finished once the others stream.</summary>
    private async Task RecordPromotedAsync(Member candidate, CancellationToken ct)
    {
        if (_ha?.State?.Operation.Value is not { } op || op.To != candidate.Name)
            return;
        await _ha.UpdateStateAsync($"{Describe(op)}: {candidate.Name} promoted, repointing the others",
            s => s.WithOperation(op.At(OperationStep.Repointing, _ha.Name, _ha.FencingToken ?? 0)), ct).ConfigureAwait(false);
    }

    /// <summary>HA mode: the leader keeps each member's last agent order and its outcome in the durable state (alone: only in the view).</summary>
    private async Task RecordAgentReportAsync(string member, AgentReport report, CancellationToken ct)
    {
        if (_ha is null)
            return;
        await _ha.UpdateStateAsync($"agent of {member}: {report.Kind} {report.State} (fencing token {report.Term})", s => s.WithAgentReport(member, report), ct).ConfigureAwait(false);
    }

    /// <summary>Every coordinator takes the detached members from the durable state (the leader writes them).</summary>
    private void ApplyDurableState(ClusterState state)
    {
        if (state.Detached.Value is not { } detached)
            return;
        foreach (var m in Members)
            m.Detached = detached.Names.Contains(m.Name, StringComparer.Ordinal);
    }

    private static string Describe(OperationRecord? op) => op is null
        ? "none"
        : $"{op.Kind.ToString().ToLowerInvariant()} {op.From ?? "(none)"} -> {op.To} at step {op.Step} (by {op.Leader}, token {op.FencingToken})";
}
