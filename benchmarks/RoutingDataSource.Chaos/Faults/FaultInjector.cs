using System.Globalization;
using RoutingDataSource.Chaos.Cluster;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Faults;

/// <summary>
/// Inflicts one fault on a whole cluster and repairs it: waits for the coordinator's failover where the primary was
/// hit, rejoins the old primary as a standby of the new one (<see cref="Rejoin"/>), restarts a crashed standby, and
/// returns once the cluster is whole again so that the next fault meets a full cluster. Every wait is bounded.
/// </summary>
internal sealed class FaultInjector(ChaosCluster cluster, ChaosSettings settings, Random random, TextWriter progress)
{
    // How long a crashed primary may go unreplaced before the harness gives up waiting and restarts it.
    private static readonly TimeSpan FailoverLimit = TimeSpan.FromSeconds(30);
    // After a thaw or a heal, how long a promotion already under way may still take to show.
    private static readonly TimeSpan LateFailover = TimeSpan.FromSeconds(5);
    // How long a standby may take to follow the primary after a fault before it counts as stray and is rejoined.
    private static readonly TimeSpan StrayAfter = TimeSpan.FromSeconds(20);

    private RunClock Clock => cluster.Clock;

    /// <summary>Runs one fault; its record is added to <paramref name="records"/> before the fault is inflicted, so a harness failure keeps it.</summary>
    public async Task RunAsync(int number, FaultKind kind, List<FaultRecord> records, CancellationToken cancellationToken)
    {
        var primary = await cluster.WaitUntilWholeAsync(settings.RecoveryTimeout, cancellationToken);
        var standbys = cluster.Nodes.Where(n => n != primary).OrderBy(n => n.Name, StringComparer.Ordinal).ToArray();
        var target = kind is FaultKind.CrashStandby or FaultKind.Switchover or FaultKind.DestroyStandby ? standbys[random.Next(standbys.Length)] : primary;
        if (kind.NeedsAgents() && !cluster.WithAgents)
            throw new InvalidOperationException($"Fault {kind} needs the node agents.");
        var coordinators = cluster.Coordinators;
        if (kind.NeedsHa() && !coordinators.IsHa)
            throw new InvalidOperationException($"Fault {kind} needs the HA mode (three coordinators on etcd).");
        var leader = coordinators.IsHa ? coordinators.LeaderName : null;
        var etcdMember = kind == FaultKind.CrashEtcdMember ? coordinators.Etcd!.Members[random.Next(coordinators.Etcd.Members.Count)] : null;
        var targetName = kind switch
        {
            FaultKind.CrashLeader or FaultKind.CutLeaderFromEtcd => leader ?? throw new InvalidOperationException("No coordinator leads."),
            FaultKind.CrashEtcdMember => etcdMember!.Name,
            _ => target.Name,
        };
        var promotionsBefore = cluster.PromoteRequests();
        var record = new FaultRecord { Number = number, Kind = kind, Target = targetName, PrimaryBefore = primary.Name, LeaderBefore = leader, Injected = Clock.Now };
        records.Add(record);
        try
        {
            switch (kind)
            {
                case FaultKind.CrashPrimary:
                    await CrashPrimaryAsync(primary, record, cancellationToken);
                    break;
                case FaultKind.FreezePrimary:
                    await FreezePrimaryAsync(primary, record, settings.FreezeDuration, TimeSpan.Zero, cancellationToken);
                    break;
                case FaultKind.LateReturn:
                    await FreezePrimaryAsync(primary, record, settings.FreezeDuration, settings.LateReturnHold, cancellationToken);
                    break;
                case FaultKind.CrashStandby:
                    await target.StopAsync(immediate: true, cancellationToken);
                    await Task.Delay(settings.StandbyDownFor, cancellationToken);
                    await RestartStandbyAsync(target, record, cancellationToken);
                    break;
                case FaultKind.Switchover:
                    await SwitchoverAsync(primary, target, record, cancellationToken);
                    break;
                case FaultKind.DestroyStandby:
                    await DestroyStandbyAsync(target, record, cancellationToken);
                    break;
                case FaultKind.CutPrimary:
                    await CutPrimaryAsync(primary, record, cancellationToken);
                    break;
                case FaultKind.CrashLeader:
                    await coordinators.KillAsync(targetName);
                    await WaitForOtherLeaderAsync(targetName, record, settings.LeaderDownFor + FailoverLimit, cancellationToken);
                    await HoldAsync(record, settings.LeaderDownFor, cancellationToken);
                    await coordinators.StartAsync(targetName, cancellationToken);
                    await CheckPrimaryUnchangedAsync(primary, record, cancellationToken);
                    break;
                case FaultKind.CutLeaderFromEtcd:
                    coordinators.CutFromEtcd(targetName);
                    try
                    {
                        await WaitForOtherLeaderAsync(targetName, record, settings.EtcdCutDuration + FailoverLimit, cancellationToken);
                        await HoldAsync(record, settings.EtcdCutDuration, cancellationToken);
                    }
                    finally
                    {
                        coordinators.HealEtcdRoute(targetName);
                    }

                    await CheckPrimaryUnchangedAsync(primary, record, cancellationToken);
                    break;
                case FaultKind.CrashEtcdMember:
                    await etcdMember!.KillAsync(cancellationToken);
                    await HoldAsync(record, settings.EtcdMemberDownFor, cancellationToken);
                    await etcdMember.StartAsync(cancellationToken);
                    await coordinators.Etcd!.WaitForHealthyAsync(TimeSpan.FromSeconds(30), cancellationToken);
                    await CheckPrimaryUnchangedAsync(primary, record, cancellationToken);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }

            await RepairStraysAsync(record, cancellationToken);
            await cluster.WaitUntilWholeAsync(settings.RecoveryTimeout, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            record.Note = $"harness failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}";
            throw;
        }
        finally
        {
            record.Recovered = Clock.Now;
            record.Promotions = cluster.PromoteRequests() - promotionsBefore;
        }

        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{Clock.Now,7:0.0}] fault {number} {kind} of {record.Target} at {record.Injected:0.0} s: {(record.Promoted is { } p ? $"{p} promoted after {record.FailoverSeconds:0.0} s" : "no promotion")}{(record.Rejoin is { } r ? $"; {record.PrimaryBefore} rejoined by {r} in {record.RejoinSeconds:0.0} s" : "")}{(record.NewLeader is { } l ? $"; {l} led after {record.TakeoverSeconds:0.0} s" : "")}; {record.Promotions} promote request(s); whole again after {record.Recovered - record.Injected:0.0} s{(record.Note is { } n ? $" ({n})" : "")}"));
    }

    /// <summary>
    /// A standby that still does not follow the primary a while after the fault cannot by itself (it replayed WAL
    /// the new primary never had): noted, with the line of its log that says why, and rejoined like an old primary.
    /// </summary>
    private async Task RepairStraysAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        try
        {
            await cluster.WaitUntilWholeAsync(StrayAfter, cancellationToken);
            return;
        }
        catch (TimeoutException)
        {
            // Looked at below.
        }

        if (await cluster.CurrentPrimaryAsync(cancellationToken) is not { } primary)
            return;
        foreach (var stray in await cluster.StrayStandbysAsync(primary, cancellationToken))
        {
            var why = stray.ReadLogTail(200).Split('\n').LastOrDefault(l => l.Contains("forked off", StringComparison.Ordinal) || l.Contains("ahead of the WAL flush", StringComparison.Ordinal));
            var started = Clock.Now;
            var how = await Rejoin.RejoinAsync(cluster, stray, primary, cancellationToken);
            var note = string.Create(CultureInfo.InvariantCulture,
                $"{stray.Name} did not follow {primary.Name} within {StrayAfter.TotalSeconds:0} s{(why is null ? "" : $" (its log: {why[(why.IndexOf("LOG:", StringComparison.Ordinal) is var i and >= 0 ? i + 5 : 0)..].Trim()})")}; rejoined by {how} in {Clock.Now - started:0.0} s");
            record.Note = record.Note is null ? note : record.Note + "; " + note;
            record.StrayStandbys.Add(stray.Name);
        }
    }

    /// <summary>
    /// Starts a crashed standby again, unless its agent has already (the leader orders a stopped standby started): a
    /// start that loses that race finds the server running.
    /// </summary>
    private async Task RestartStandbyAsync(LocalPgNode standby, FaultRecord record, CancellationToken cancellationToken)
    {
        if (standby.IsRunning)
        {
            record.Note = "started again by its agent";
            return;
        }

        try
        {
            await standby.StartAsync(cancellationToken);
        }
        catch (InvalidOperationException) when (cluster.WithAgents && standby.IsRunning)
        {
            record.Note = "started again by its agent (the harness's start lost the race)";
        }
    }

    /// <summary>A planned switchover to <paramref name="candidate"/> under the workload, through the leader; the old primary must follow it by itself.</summary>
    private async Task SwitchoverAsync(LocalPgNode primary, LocalPgNode candidate, FaultRecord record, CancellationToken cancellationToken)
    {
        var leader = cluster.Coordinators.Leader ?? throw new InvalidOperationException("No coordinator leads: no switchover.");
        var outcome = await leader.Coordinator.FailoverToAsync(candidate.Name, force: false);
        if (outcome.Kind != OutcomeKind.Ok)
        {
            record.Note = $"switchover to {candidate.Name} refused: {outcome.Error}";
            return;
        }

        record.Promoted = candidate.Name;
        record.FailoverSeconds = Clock.Now - record.Injected;
        await RejoinAsync(primary, candidate, record, cancellationToken);
    }

    /// <summary>A standby's data directory is lost; <c>recover</c> (through the leader) has its agent rebuild it from the primary.</summary>
    private async Task DestroyStandbyAsync(LocalPgNode standby, FaultRecord record, CancellationToken cancellationToken)
    {
        await standby.StopAsync(immediate: true, cancellationToken);
        Directory.Delete(standby.DataDirectory, recursive: true);
        var started = Clock.Now;
        for (var attempt = 1; ; attempt++)
        {
            var leader = cluster.Coordinators.Leader ?? throw new InvalidOperationException("No coordinator leads: no recover.");
            var outcome = await leader.Coordinator.RecoverAsync(standby.Name);
            if (outcome.Kind == OutcomeKind.Ok)
                break;
            // Another order to that agent (the round asking what became of it) may be running: a few tries.
            if (outcome.Kind != OutcomeKind.Conflict || attempt == 5)
                throw new InvalidOperationException($"recover {standby.Name} failed: {outcome.Error}");
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }

        record.Note = string.Create(CultureInfo.InvariantCulture, $"{standby.Name}'s data directory deleted; recover had its agent rebuild it in {Clock.Now - started:0.0} s");
    }

    private async Task CrashPrimaryAsync(LocalPgNode primary, FaultRecord record, CancellationToken cancellationToken)
    {
        await primary.StopAsync(immediate: true, cancellationToken);
        if (await WaitForFailoverAsync(primary, record, FailoverLimit, cancellationToken) is { } promoted)
        {
            await RejoinAsync(primary, promoted, record, cancellationToken);
            return;
        }

        record.Note = $"no failover within {FailoverLimit.TotalSeconds:0} s: {primary.Name} restarted as it was";
        await primary.StartAsync(cancellationToken);
    }

    private async Task FreezePrimaryAsync(LocalPgNode primary, FaultRecord record, TimeSpan frozenFor, TimeSpan fencedFor, CancellationToken cancellationToken)
    {
        await primary.FreezeAsync(cancellationToken);
        LocalPgNode? promoted;
        try
        {
            promoted = await WaitForFailoverAsync(primary, record, frozenFor, cancellationToken);
            var left = record.Injected + frozenFor.TotalSeconds - Clock.Now;
            if (left > 0)
                await Task.Delay(TimeSpan.FromSeconds(left), cancellationToken);
        }
        finally
        {
            await primary.ThawAsync(CancellationToken.None);
        }

        promoted ??= await WaitForFailoverAsync(primary, record, LateFailover, cancellationToken);
        if (promoted is null)
        {
            record.Note = $"no failover while frozen for {frozenFor.TotalSeconds:0} s";
            return;
        }

        // The old primary runs on, fenced, as a server that comes back late would.
        if (fencedFor > TimeSpan.Zero)
            await Task.Delay(fencedFor, cancellationToken);
        await RejoinAsync(primary, promoted, record, cancellationToken);
    }

    private async Task CutPrimaryAsync(LocalPgNode primary, FaultRecord record, CancellationToken cancellationToken)
    {
        var paths = cluster.Paths(primary);
        paths.Cut();
        LocalPgNode? promoted;
        try
        {
            promoted = await WaitForFailoverAsync(primary, record, settings.CutDuration, cancellationToken);
            var left = record.Injected + settings.CutDuration.TotalSeconds - Clock.Now;
            if (left > 0)
                await Task.Delay(TimeSpan.FromSeconds(left), cancellationToken);
        }
        finally
        {
            paths.Heal();
        }

        promoted ??= await WaitForFailoverAsync(primary, record, LateFailover, cancellationToken);
        if (promoted is null)
        {
            record.Note = $"no failover while cut off for {settings.CutDuration.TotalSeconds:0} s";
            return;
        }

        await RejoinAsync(primary, promoted, record, cancellationToken);
    }

    /// <summary>Waits (bounded) until a coordinator other than <paramref name="old"/> leads; notes it when none does.</summary>
    private async Task WaitForOtherLeaderAsync(string old, FaultRecord record, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = Clock.Now + timeout.TotalSeconds;
        while (Clock.Now < until)
        {
            if (cluster.Coordinators.LeaderName is { } leader && leader != old)
            {
                record.NewLeader = leader;
                record.TakeoverSeconds = Clock.Now - record.Injected;
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }

        record.Note = string.Create(CultureInfo.InvariantCulture, $"no other coordinator led within {timeout.TotalSeconds:0} s");
    }

    /// <summary>Waits until <paramref name="duration"/> has passed since the fault started.</summary>
    private async Task HoldAsync(FaultRecord record, TimeSpan duration, CancellationToken cancellationToken)
    {
        var left = record.Injected + duration.TotalSeconds - Clock.Now;
        if (left > 0)
            await Task.Delay(TimeSpan.FromSeconds(left), cancellationToken);
    }

    /// <summary>A coordinator or etcd fault must change nothing on the servers: a new primary is recorded (and its promotion counted) when one did.</summary>
    private async Task CheckPrimaryUnchangedAsync(LocalPgNode primary, FaultRecord record, CancellationToken cancellationToken)
    {
        if (await cluster.WaitForNewPrimaryAsync(primary, TimeSpan.FromSeconds(1), cancellationToken) is { } promoted)
        {
            record.Promoted = promoted.Name;
            record.FailoverSeconds = Clock.Now - record.Injected;
            record.Note = $"the primary changed although the servers were not touched: {primary.Name} -> {promoted.Name}";
            await RejoinAsync(primary, promoted, record, cancellationToken);
        }
    }

    private async Task<LocalPgNode?> WaitForFailoverAsync(LocalPgNode old, FaultRecord record, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var promoted = await cluster.WaitForNewPrimaryAsync(old, timeout, cancellationToken);
        if (promoted is not null && record.Promoted is null)
        {
            record.Promoted = promoted.Name;
            record.FailoverSeconds = Clock.Now - record.Injected;
        }

        return promoted;
    }

    private async Task RejoinAsync(LocalPgNode old, LocalPgNode promoted, FaultRecord record, CancellationToken cancellationToken)
    {
        var started = Clock.Now;
        record.Rejoin = await Rejoin.RejoinAsync(cluster, old, promoted, cancellationToken);
        record.RejoinSeconds = Clock.Now - started;
    }
}
