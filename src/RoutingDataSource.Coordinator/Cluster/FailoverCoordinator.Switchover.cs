using System.Globalization;
using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// The planned switchover of a primary that has an agent: a clean shutdown (its last WAL record is the shutdown
/// checkpoint, sent to the connected standbys before it exits), proof that the candidate received that checkpoint,
/// the promotion, and the old primary restarted as a standby of the candidate without a rewind (its history is a
/// prefix of the candidate's). No acknowledged commit can be lost: none can be made after the shutdown began, and
/// every one before it is in WAL the candidate has.
/// </summary>
internal sealed partial class FailoverCoordinator
{
    /// <summary>
    /// POST /switchover: a switchover to <paramref name="name"/>, only from a live primary; refused with nothing
    /// changed otherwise (as a failover from a dead one is not planned).
    /// </summary>
    public async Task<Outcome> SwitchoverToAsync(string name)
    {
        var view = _view;
        if (view.Primary is not { } primary || view.Find(primary) is not { State: MemberState.Up })
            return Outcome.Conflict($"no live primary to switch over from ({view.Primary ?? "none known"}): a failover is what a dead primary needs");
        return await FailoverToAsync(name, force: false).ConfigureAwait(false);
    }

    private async Task<Outcome> CleanSwitchoverAsync(Member old, MemberObservation oo, Member candidate, MemberObservation[] observations, CancellationToken ct)
    {
        var name = candidate.Name;
        var previous = oo.Details?.SynchronousStandbyNames ?? _primarySync ?? "";
        var sync = SyncStandbyNames.Parse(previous);
        if (sync is not null && !sync.Includes(name))
            return Outcome.Conflict($"{name} is not synchronous ({old.Name}'s synchronous_standby_names is '{previous}'): it may miss acknowledged commits; nothing changed");
        var written = oo.Probe.CurrentLsn ?? 0;
        var received = observations[candidate.Index].ReceivedLsn ?? 0;
        var lag = written > received ? (long)(written - received) : 0;
        if (lag > _options.SwitchoverMaxLagBytes)
            return Outcome.Conflict(string.Create(CultureInfo.InvariantCulture,
                $"{name} lags {lag} bytes behind {old.Name} ({Lsn.Format(received)} received of {Lsn.Format(written)}), more than SwitchoverMaxLagBytes ({_options.SwitchoverMaxLagBytes}); nothing changed"));
        if (_ha is not null && _ha.FencingToken is null)
            return Outcome.Conflict("this coordinator does not lead");
        var term = _ha?.FencingToken ?? 0;

        Log.CleanSwitchover(_logger, old.Name, name, string.Create(CultureInfo.InvariantCulture, $"{name} lags {lag} bytes; clean shutdown of {old.Name} by its agent (term {term})"));
        var stopping = _time.GetTimestamp();
        var stopped = await _mutations.OrderAsync(old, new AgentOrder(old.Name, AgentOrderKind.Stop, term, Name), ct).ConfigureAwait(false);
        if (stopped.Result is not { Succeeded: true } stop)
        {
            var why = stopped.Result?.Error ?? $"HTTP {stopped.Status}: {stopped.Error}";
            return await AbandonSwitchoverAsync(old, term, $"{old.Name} did not shut down cleanly: {why}", ct).ConfigureAwait(false);
        }
        if (stop.Facts.ClusterState != "shut down" || !Lsn.TryParse(stop.Facts.CheckpointLsn, out var checkpoint))
            return await AbandonSwitchoverAsync(old, term, $"{old.Name}'s control file after the shutdown says '{stop.Facts.ClusterState}', checkpoint {stop.Facts.CheckpointLsn}", ct).ConfigureAwait(false);

        Log.CleanSwitchover(_logger, old.Name, name, string.Create(CultureInfo.InvariantCulture,
            $"{old.Name} shut down cleanly at {Lsn.Format(checkpoint)}, {_time.GetElapsedTime(stopping).TotalMilliseconds:0} ms after the order (agent: {string.Join("; ", stop.Steps)}); waiting for {name} to have received it"));
        var waiting = _time.GetTimestamp();

        // Past the start of the shutdown checkpoint record: the candidate has every commit the old primary made.
        if (!await ServerActions.WaitForReceiveAsync(candidate, checkpoint + 1, _options.CatchUpTimeout, _time, ct).ConfigureAwait(false))
            return await AbandonSwitchoverAsync(old, term, $"{name} did not receive {old.Name}'s shutdown checkpoint ({Lsn.Format(checkpoint)}) within {_options.CatchUpTimeout.TotalSeconds:0} s", ct).ConfigureAwait(false);
        Log.CleanSwitchover(_logger, old.Name, name, string.Create(CultureInfo.InvariantCulture,
            $"{name} received the shutdown checkpoint at {Lsn.Format(checkpoint)} ({_time.GetElapsedTime(waiting).TotalMilliseconds:0} ms of waiting): promoting it"));

        var outcome = await PromoteAsync(candidate, old, sync, FailoverTrigger.Manual, $"switchover from {old.Name} (shut down cleanly at {Lsn.Format(checkpoint)}) to {name}", ct, OperationKind.Switchover).ConfigureAwait(false);
        if (outcome.Kind != OutcomeKind.Ok)
            return outcome; // the old primary stays down; the next rounds handle what is left (a failover if need be)
        _rejoins.Demote(old, candidate, $"switched over to {name}: {old.Name} follows it without a rewind");
        return outcome;
    }

    /// <summary>Nothing was promoted: the old primary is started again as the primary (it was shut down cleanly).</summary>
    private async Task<Outcome> AbandonSwitchoverAsync(Member old, long term, string why, CancellationToken ct)
    {
        Log.CleanSwitchover(_logger, old.Name, "-", "abandoned: " + why);
        var resumed = await _mutations.OrderAsync(old, new AgentOrder(old.Name, AgentOrderKind.Resume, term, Name), ct).ConfigureAwait(false);
        var how = resumed.Result is { Succeeded: true } r ? r.How : $"it could not be resumed ({resumed.Result?.Error ?? resumed.Error}): the next rounds fail over if it stays down";
        return Outcome.Failed($"switchover abandoned, nothing promoted: {why}; {old.Name}: {how}");
    }
}
