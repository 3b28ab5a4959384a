using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>The operations the API asks for: manual failover (or switchover), detach, attach.</summary>
internal sealed partial class FailoverCoordinator
{
    /// <summary>
    /// A manual failover to <paramref name="name"/>. With a live primary it is a switchover that loses no
    /// acknowledged commit: the old primary's commits are first made to wait for the candidate, which must catch up
    /// to it; with a dead one the candidate must be one the automatic choice would accept.
    /// </summary>
    public async Task<Outcome> FailoverToAsync(string name, CancellationToken cancellationToken)
    {
        if (Find(name) is not { } candidate)
            return Outcome.NotFound($"no member named '{name}' (members: {string.Join(", ", Members.Select(m => m.Name))})");
        if (candidate.Priority <= 0)
            return Outcome.Bad($"{name} has priority 0: it is never promoted");
        if (candidate.Detached)
            return Outcome.Bad($"{name} is detached: attach it first");
        if (!await _operation.WaitAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
            return Outcome.Conflict("another failover is in progress");
        try
        {
            Log.ManualFailover(_logger, name);
            var observations = await ProbeAllAsync(cancellationToken).ConfigureAwait(false);
            var co = observations[candidate.Index];
            if (!co.Probe.Reachable)
                return Outcome.Bad($"{name} does not answer: {co.Probe.Error}");
            if (!co.Probe.InRecovery)
                return Outcome.Bad(name == _primary ? $"{name} is already the primary" : $"{name} is not a standby");
            var old = _primary is { } p ? Find(p) : null;
            var oo = old is null ? null : observations[old.Index];
            SyncStandbyNames? sync = null;
            if (old is not null && oo is { Probe: { Reachable: true, InRecovery: false } })
            {
                var previous = oo.Details?.SynchronousStandbyNames ?? _primarySync ?? "";
                sync = SyncStandbyNames.Parse(previous);
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                bound.CancelAfter(_options.CatchUpTimeout + TimeSpan.FromSeconds(10));
                try
                {
                    var only = new SyncStandbyNames(SyncMethod.First, 1, [candidate.Name]).Render();
                    await ServerActions.SetSynchronousStandbyNamesAsync(old, only, bound.Token).ConfigureAwait(false);
                    var lsn = await ServerActions.CurrentLsnAsync(old, bound.Token).ConfigureAwait(false);
                    Log.Switchover(_logger, old.Name, candidate.Name, Lsn.Format(lsn));
                    if (!await ServerActions.WaitForReceiveAsync(candidate, lsn, _options.CatchUpTimeout, _time, bound.Token).ConfigureAwait(false))
                    {
                        await ServerActions.SetSynchronousStandbyNamesAsync(old, previous, bound.Token).ConfigureAwait(false);
                        return Outcome.Conflict($"{name} did not catch up with {old.Name} ({Lsn.Format(lsn)}) within {_options.CatchUpTimeout.TotalSeconds:0} s; nothing changed");
                    }
                }
                catch (Exception e) when (ServerErrors.Matches(e, cancellationToken))
                {
                    return Outcome.Failed($"switchover preparation on {old.Name} failed: {BackendProbe.Describe(e)}");
                }
            }
            else if (old is not null)
            {
                sync = SyncStandbyNames.Parse(_primarySync);
                var choice = CandidateSelector.Choose(CandidateInfos(observations), old.Name, sync, _options.AllowDataLoss);
                if (!choice.Acceptable.Any(c => c.Name == name))
                    return Outcome.Bad($"{name} is not a safe candidate: {choice.Evidence}");
            }
            return await PromoteAsync(candidate, old, sync, $"manual failover to {name}", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _operation.Release();
        }
    }

    /// <summary>Takes a member out of the candidates (it is still probed and repointed).</summary>
    public Outcome Detach(string name) => SetDetached(name, true);

    /// <summary>Makes a detached member a candidate again.</summary>
    public Outcome Attach(string name) => SetDetached(name, false);

    private Outcome SetDetached(string name, bool detached)
    {
        if (Find(name) is not { } m)
            return Outcome.NotFound($"no member named '{name}' (members: {string.Join(", ", Members.Select(x => x.Name))})");
        if (detached && string.Equals(_snapshot.Primary?.Backend.Name, name, StringComparison.Ordinal))
            return Outcome.Conflict($"{name} is the primary: fail over to another member first");
        if (m.Detached != detached)
        {
            m.Detached = detached;
            Log.Membership(_logger, name, detached ? "detached" : "attached");
        }
        return Outcome.Ok(Publish().Find(name)!);
    }
}
