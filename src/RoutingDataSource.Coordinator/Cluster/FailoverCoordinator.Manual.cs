using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>The operations the API asks for: manual failover (or switchover), detach, attach.</summary>
internal sealed partial class FailoverCoordinator
{
    /// <summary>How long a manual operation waits for a probe round's decisions (or another operation) to finish.</summary>
    private static readonly TimeSpan OperationWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A manual failover to <paramref name="name"/>. With a live primary it is a switchover that loses no
    /// acknowledged commit (<see cref="SwitchoverAsync"/>). With one that does not answer, it takes the automatic
    /// path's verdict (dead: enough failed probes, no standby streaming from it) and candidate checks, with the
    /// candidate named. With no primary known (the coordinator started during an outage) it is refused unless
    /// <paramref name="force"/>. Runs on the coordinator's own stop token, never the caller's: a client that goes away
    /// does not stop a promotion midway.
    /// </summary>
    public async Task<Outcome> FailoverToAsync(string name, bool force)
    {
        if (Find(name) is not { } candidate)
            return Outcome.NotFound($"no member named '{name}' (members: {string.Join(", ", Members.Select(m => m.Name))})");
        if (candidate.Priority <= 0)
            return Outcome.Bad($"{name} has priority 0: it is never promoted");
        if (candidate.Detached)
            return Outcome.Bad($"{name} is detached: attach it first");
        var ct = _stop.Token;
        if (!await _operation.WaitAsync(OperationWait, ct).ConfigureAwait(false))
            return Outcome.Conflict("another failover is in progress");
        try
        {
            Log.ManualFailover(_logger, name);
            if (!MayAct || (_ha is not null && !await TakeOverAsync(ct).ConfigureAwait(false)))
                return Outcome.Conflict($"this coordinator does not lead (leader: {_ha?.Leader ?? "none"}); send it to the leader");
            if (_ha?.State?.Operation.Value is { } running)
                return Outcome.Conflict($"an operation recorded in etcd is still in progress ({running.Kind} to {running.To}, step {running.Step}); the leader finishes it first");
            Outcome outcome;
            try
            {
                outcome = await ManualFailoverAsync(candidate, force, ct).ConfigureAwait(false);
            }
            catch (NotLeaderException e)
            {
                outcome = Outcome.Conflict($"stopped midway: {e.Message}");
            }
            if (outcome.Kind != OutcomeKind.Ok)
                Log.ManualFailoverRefused(_logger, name, outcome.Error!);
            return outcome;
        }
        finally
        {
            _operation.Release();
        }
    }

    private async Task<Outcome> ManualFailoverAsync(Member candidate, bool force, CancellationToken ct)
    {
        var name = candidate.Name;
        var observations = await ProbeAllAsync(ct).ConfigureAwait(false);
        var co = observations[candidate.Index];
        if (!co.Probe.Reachable)
            return Outcome.Bad($"{name} does not answer: {co.Probe.Error}");
        if (!co.Probe.InRecovery)
            return Outcome.Bad(name == _primary ? $"{name} is already the primary" : $"{name} is not a standby");
        if (_primary is not { } p || Find(p) is not { } old)
        {
            return force
                ? await FailoverFromAsync(null, candidate, FailoverTrigger.Manual, $"manual failover to {name}, forced with no primary known", observations, ct).ConfigureAwait(false)
                : Outcome.Conflict($"no primary is known (none seen since this coordinator started), so which standbys hold every acknowledged commit cannot be checked; to promote {name} anyway (it must be the most advanced standby that answers), ask again with \"force\": true (CLI: --force)");
        }
        var oo = observations[old.Index];
        if (oo.Probe is { Reachable: true, InRecovery: false })
        {
            return old.Agent is null
                ? await SwitchoverAsync(old, oo, candidate, observations, ct).ConfigureAwait(false)
                : await CleanSwitchoverAsync(old, oo, candidate, observations, ct).ConfigureAwait(false);
        }
        // Not answering now: only the automatic path's verdict makes it dead, never one failed probe.
        if (_verdict is not { Kind: VerdictKind.Dead } verdict || verdict.Primary != old.Name)
            return Outcome.Conflict($"{old.Name} does not answer but is not confirmed dead: {_verdict?.Evidence ?? "no verdict yet"}");
        return await FailoverFromAsync(old, candidate, FailoverTrigger.Manual, $"manual failover to {name}: {verdict.Evidence}", observations, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// From the live <paramref name="old"/> primary: its commits are first made to wait for the candidate alone, which
    /// must catch up to it; then the other standbys are cut off from it and the candidate promoted. On every other
    /// outcome (a timeout, an error, the coordinator stopping) the old primary gets its previous
    /// synchronous_standby_names back and the standbys cut off follow it again.
    /// </summary>
    private async Task<Outcome> SwitchoverAsync(Member old, MemberObservation oo, Member candidate, MemberObservation[] observations, CancellationToken ct)
    {
        var name = candidate.Name;
        var previous = oo.Details?.SynchronousStandbyNames ?? _primarySync ?? "";
        var sync = SyncStandbyNames.Parse(previous);
        var outcome = Outcome.Failed($"switchover from {old.Name} to {name} interrupted");
        var changed = false;
        Member[] cutOff = [];
        try
        {
            using (var bound = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                bound.CancelAfter(_options.CatchUpTimeout + TimeSpan.FromSeconds(10));
                var only = new SyncStandbyNames(SyncMethod.First, 1, [name]).Render();
                changed = true; // from here on it may have been applied, even if the call fails
                await _mutations.SetSynchronousStandbyNamesAsync(old, only, bound.Token).ConfigureAwait(false);
                var lsn = await ServerActions.CurrentLsnAsync(old, bound.Token).ConfigureAwait(false);
                Log.Switchover(_logger, old.Name, name, Lsn.Format(lsn));
                if (!await ServerActions.WaitForReceiveAsync(candidate, lsn, _options.CatchUpTimeout, _time, bound.Token).ConfigureAwait(false))
                {
                    outcome = Outcome.Conflict($"{name} did not catch up with {old.Name} ({Lsn.Format(lsn)}) within {_options.CatchUpTimeout.TotalSeconds:0} s; nothing changed");
                    return outcome;
                }
            }
            // The old primary's commits wait for the candidate alone now, but a standby still attached to it would keep
            // taking WAL the new primary may lack; detached first, as in every failover.
            cutOff = (await CutOffStandbysAsync(old, candidate, observations, ct).ConfigureAwait(false)).Standbys;
            outcome = await PromoteAsync(candidate, old, sync, FailoverTrigger.Manual, $"manual switchover from {old.Name} to {name}", ct, OperationKind.Switchover).ConfigureAwait(false);
            return outcome;
        }
        catch (Exception e) when (ServerErrors.Matches(e, ct))
        {
            outcome = Outcome.Failed($"switchover from {old.Name} to {name} failed: {BackendProbe.Describe(e)}");
            return outcome;
        }
        finally
        {
            if (changed && outcome.Kind != OutcomeKind.Ok)
            {
                await RestoreSynchronousStandbyNamesAsync(old, previous, outcome.Error!).ConfigureAwait(false);
                if (cutOff.Length > 0)
                    _cutOff = (old.Name, cutOff); // they follow it again in the next round that finds it healthy
            }
        }
    }

    /// <summary>Puts <paramref name="value"/> back on <paramref name="primary"/>, bounded, even while the coordinator stops.</summary>
    private async Task RestoreSynchronousStandbyNamesAsync(Member primary, string value, string why)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _mutations.SetSynchronousStandbyNamesAsync(primary, value, bound.Token).ConfigureAwait(false);
            Log.SyncNamesRestored(_logger, primary.Name, value, why);
        }
        catch (Exception e) when (ServerErrors.Matches(e, CancellationToken.None))
        {
            Log.SyncNamesRestoreFailed(_logger, primary.Name, value, BackendProbe.Describe(e));
        }
    }

    /// <summary>Takes a member out of the candidates (it is still probed and repointed).</summary>
    public Task<Outcome> DetachAsync(string name) => SetDetachedAsync(name, true);

    /// <summary>Makes a detached member a candidate again.</summary>
    public Task<Outcome> AttachAsync(string name) => SetDetachedAsync(name, false);

    private async Task<Outcome> SetDetachedAsync(string name, bool detached)
    {
        if (Find(name) is not { } m)
            return Outcome.NotFound($"no member named '{name}' (members: {string.Join(", ", Members.Select(x => x.Name))})");
        if (detached && string.Equals(_snapshot.Primary?.Backend.Name, name, StringComparison.Ordinal))
            return Outcome.Conflict($"{name} is the primary: fail over to another member first");
        if (_ha is not null)
        {
            // Every coordinator takes the detached set from the durable state: the leader writes it first.
            if (!MayAct)
                return Outcome.Conflict($"this coordinator does not lead (leader: {_ha.Leader ?? "none"})");
            var names = Members.Where(x => x == m ? detached : x.Detached).Select(x => x.Name).ToArray();
            if (!await _ha.UpdateStateAsync($"detached members: [{string.Join(", ", names)}]", s => s.WithDetached(new DetachedMembers(names)), _stop.Token).ConfigureAwait(false))
                return Outcome.Failed($"could not record {name} as {(detached ? "detached" : "attached")} in etcd; nothing changed");
        }
        if (m.Detached != detached)
        {
            m.Detached = detached;
            Log.Membership(_logger, name, detached ? "detached" : "attached");
        }
        return Outcome.Ok(Publish().Find(name)!);
    }
}
