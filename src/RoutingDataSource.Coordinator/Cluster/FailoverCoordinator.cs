using System.Globalization;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Configuration;
using RoutingDataSource.Coordinator.Decisions;
using RoutingDataSource.Coordinator.Diagnostics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>
/// The coordinator's engine. One loop probes every member each round (every <c>ProbeInterval</c>, every
/// <c>RetryInterval</c> while the primary fails), builds the view with the data source's own
/// <see cref="SnapshotBuilder"/>, asks the <see cref="FailureDetector"/> for a verdict and, on a dead primary, the
/// <see cref="CandidateSelector"/> for a standby; then cuts the other standbys off the old primary, promotes it and
/// repoints the others. With a healthy primary, every round repoints any standby that does not stream from it, so a
/// failover interrupted after <c>pg_promote</c> is finished by the next round. Manual operations (API) take the same
/// operation lock, so two promotions never overlap; every change to a server goes through <see cref="Mutations"/>.
/// </summary>
internal sealed partial class FailoverCoordinator : IAsyncDisposable
{
    private readonly CoordinatorOptions _options;
    private readonly RoutingOptions _routing;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly FailureDetector _detector;
    private readonly HookRunner _hooks;
    private readonly SemaphoreSlim _operation = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Followers _followers;
    private readonly Rejoins _rejoins;
    private readonly Mutations _mutations;
    private readonly HaCoordination? _ha;
    private readonly CoordinatorMetrics _metrics;
    // Rounds in a row each standby was seen not streaming from the healthy primary (see ReconcileFollowers).
    private readonly Dictionary<string, int> _strays = new(StringComparer.Ordinal);
    private readonly HashSet<string> _receiverWarned = new(StringComparer.Ordinal);
    private readonly HashSet<string> _retryWarned = new(StringComparer.Ordinal);
    private readonly Lock _publish = new();
    private volatile ClusterSnapshot _snapshot;
    private volatile ClusterView _view;
    private TaskCompletionSource<ClusterView> _nextView = NewViewSignal();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string? _primary;
    private volatile string? _primarySync;
    private volatile string[] _primaryReceivers = [];
    private volatile string? _decision;
    private volatile FailoverRecord? _lastFailover;
    private PrimaryVerdict? _verdict;
    private string? _lastNoCandidate;
    // Standbys cut off from a primary found dead, with no failover after all: they follow it again once it recovers,
    // or the new primary once one is promoted. Never sooner: a repoint to the old primary still running when the next
    // round promotes would let a standby take WAL (and confirm commits) the new primary lacks.
    private (string OldPrimary, Member[] Standbys)? _cutOff;
    private long _rounds;

    /// <summary>Rounds in a row a standby must be seen not following the primary before it is repointed.</summary>
    private const int StrayRounds = 3;

    public FailoverCoordinator(CoordinatorOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger("RoutingDataSource.Coordinator");
        _routing = new RoutingOptions
        {
            HealthCheckMaxRetries = options.FailureThreshold,
            HealthCheckInterval = options.ProbeInterval,
            HealthCheckTimeout = options.ProbeTimeout,
            MaxReplicationLagBytes = null,
            MaxReplicationLag = null,
        };
        Members = options.Backends.Select((b, i) => new Member(i, b, options)).ToArray();
        _detector = new FailureDetector(options.FailureThreshold, time);
        _hooks = new HookRunner(options.Hooks.Timeout, _logger);
        _metrics = new CoordinatorMetrics(options.Name);
        if (options.Etcd is { } etcd)
        {
            _ha = new HaCoordination(etcd, options.Name, time, loggerFactory.CreateLogger("RoutingDataSource.Coordinator.Ha"));
            _ha.StateRead = ApplyDurableState;
        }
        _mutations = new Mutations(_ha?.Guard);
        _followers = new Followers(options, _mutations, _logger, time, _stop.Token);
        _rejoins = new Rejoins(options, _mutations, _followers, _logger, time, () => _ha is null ? 0 : _ha.IsLeader ? _ha.FencingToken : null,
            RecordAgentReportAsync, _stop.Token);
        _snapshot = ClusterSnapshot.Initial(Members.Select(m => m.Backend).ToArray());
        _view = BuildView();
    }

    public Member[] Members { get; }

    public ILogger Logger => _logger;

    /// <summary>HA mode's election, guard and durable state; null when this coordinator runs alone.</summary>
    internal HaCoordination? Ha => _ha;

    internal CoordinatorMetrics Metrics => _metrics;

    /// <summary>This coordinator's name (<c>Coordinator:Name</c>).</summary>
    public string Name => _options.Name;

    /// <summary>Whether this coordinator may change servers now: alone, always; in HA mode, only while it leads.</summary>
    private bool MayAct => _ha is null || _ha.IsLeader;

    /// <summary>The latest view (immutable).</summary>
    public ClusterView View => _view;

    /// <summary>Completes with the next view published after this call.</summary>
    public Task<ClusterView> NextViewAsync(CancellationToken cancellationToken) => Volatile.Read(ref _nextView).Task.WaitAsync(cancellationToken);

    /// <summary>Asks for a probe round now.</summary>
    public void Wake() => Volatile.Read(ref _wake).TrySetResult();

    public Member? Find(string name) => Members.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    /// <summary>The loop; returns when <paramref name="stop"/> or disposal cancels it.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, _stop.Token);
        var ct = linked.Token;
        Log.Started(_logger, Members.Length, string.Join(", ", Members.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Name}={m.Host}:{m.Port} p{m.Priority}"))),
            (long)_options.ProbeInterval.TotalMilliseconds, (long)_options.ProbeTimeout.TotalMilliseconds, _options.FailureThreshold);
        while (!ct.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            try
            {
                await RoundAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // The loop must survive anything one round throws; it is logged.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.RoundFailed(_logger, e);
            }
            var interval = _verdict?.Kind is VerdictKind.Suspect or VerdictKind.Vetoed ? _options.RetryInterval : _options.ProbeInterval;
            var wait = interval - _time.GetElapsedTime(started);
            if (wait <= TimeSpan.Zero)
                continue;
            try
            {
                await Volatile.Read(ref _wake).Task.WaitAsync(wait, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private Task<MemberObservation[]> ProbeAllAsync(CancellationToken ct) =>
        Task.WhenAll(Members.Select(m => MemberProbe.ProbeAsync(m, _options.ProbeTimeout, _time, ct)));

    private async Task RoundAsync(CancellationToken ct)
    {
        var startedAt = _time.GetUtcNow();
        var startedTimestamp = _time.GetTimestamp();
        var observations = await ProbeAllAsync(ct).ConfigureAwait(false);
        var previous = _snapshot;
        var next = SnapshotBuilder.Build(previous, observations.Select(o => o.Probe).ToArray(), SnapshotBuilder.DetachedFlags(previous), _routing, startedAt, startedTimestamp);
        _snapshot = next;
        OnTransitions(previous, next, observations);

        // A follower keeps its own view and verdict but changes nothing; a new leader first reads the durable state.
        var acting = MayAct && (_ha is null || await TakeOverAsync(ct).ConfigureAwait(false));
        // A manual operation in progress owns the decisions; this round only refreshes the view.
        if (await _operation.WaitAsync(0, ct).ConfigureAwait(false))
        {
            try
            {
                var resumed = acting && await ContinueOperationAsync(observations, ct).ConfigureAwait(false);
                await DecideAsync(next, observations, acting && !resumed, ct).ConfigureAwait(false);
                if (acting && !resumed)
                    await RecordPrimaryAsync(next, ct).ConfigureAwait(false);
            }
            finally
            {
                _operation.Release();
            }
        }
        if (acting && MayAct)
        {
            _followers.Reconcile(_primary, next, observations, Find);
            ConsiderFailback(observations);
        }
        Interlocked.Increment(ref _rounds);
        Publish();
    }

    private async Task DecideAsync(ClusterSnapshot snapshot, MemberObservation[] observations, bool acting, CancellationToken ct)
    {
        if (snapshot.Primary is { } seen)
        {
            var name = seen.Backend.Name;
            if (!string.Equals(name, _primary, StringComparison.Ordinal))
            {
                _primary = name;
                _detector.Reset(name);
                Log.PrimaryIs(_logger, name, seen.Timeline);
            }
            var o = observations[seen.Backend.Index];
            if (o.Details is { } details)
                _primarySync = details.SynchronousStandbyNames;
            if (o.Probe.Reachable)
                _primaryReceivers = o.Probe.Replication.Select(r => r.ApplicationName).ToArray();
        }
        if (_primary is not { } primaryName || Find(primaryName) is not { } primary)
        {
            _verdict = null;
            return;
        }

        var po = observations[primary.Index];
        var evidence = new List<StandbyEvidence>();
        foreach (var m in Members)
        {
            var o = observations[m.Index];
            if (m == primary || (o.Probe.Reachable && !o.Probe.InRecovery))
                continue;
            evidence.Add(new StandbyEvidence(m.Name, o.Probe.Reachable, o.Details?.ReceiverStatus ?? o.Probe.WalReceiverStatus, StreamsFrom(o.Details, primary)));
        }
        var before = _verdict;
        var verdict = _detector.Evaluate(primary.Name, po.Probe.Reachable, po.Probe.Error, evidence);
        _verdict = verdict;
        LogVerdict(before, verdict);
        if (!acting || !MayAct)
            return;
        if (_cutOff is { } cut && verdict.Kind == VerdictKind.Healthy && string.Equals(cut.OldPrimary, primary.Name, StringComparison.Ordinal))
        {
            _cutOff = null;
            _followers.Assign(cut.Standbys, primary);
        }
        if (verdict.Kind == VerdictKind.Dead)
            await FailoverFromAsync(primary, null, FailoverTrigger.Automatic, "automatic: " + verdict.Evidence, observations, ct).ConfigureAwait(false);
        else if (verdict.Kind == VerdictKind.Healthy)
        {
            ReconcileFollowers(primary, observations);
            _rejoins.Reconcile(primary, Members, observations);
        }
    }

    /// <summary>
    /// Repoints every standby that has not streamed from the healthy <paramref name="primary"/> for
    /// <see cref="StrayRounds"/> rounds in a row and is not being repointed already: whatever was interrupted (a
    /// coordinator that stopped after <c>pg_promote</c>, a promotion that finished after its timeout, standbys cut off
    /// for a failover that did not happen), the cluster converges. Several rounds, so that a receiver restarting on its
    /// own is left alone. A standby streaming from a sender this coordinator cannot place (no privilege to see it, or a
    /// cascade) is left alone too.
    /// </summary>
    private void ReconcileFollowers(Member primary, MemberObservation[] observations)
    {
        var rows = observations[primary.Index].Probe.Replication;
        foreach (var m in Members)
        {
            var o = observations[m.Index];
            var why = m == primary || o.Probe is not { Reachable: true, InRecovery: true } || _followers.IsPending(m.Name)
                || rows.Any(r => string.Equals(r.ApplicationName, m.Name, StringComparison.OrdinalIgnoreCase) && r.State == "streaming")
                ? null
                : o.Details?.ReceiverStatus is not { } status ? "no WAL receiver"
                : StreamsFrom(o.Details, primary) == false ? $"receiver {status} from another member"
                : status != "streaming" ? $"receiver {status}"
                : null;
            if (why is null)
            {
                _strays.Remove(m.Name);
                continue;
            }
            var rounds = _strays[m.Name] = _strays.GetValueOrDefault(m.Name) + 1;
            if (rounds < StrayRounds)
                continue;
            _strays.Remove(m.Name);
            Log.NotFollowing(_logger, m.Name, primary.Name, string.Create(CultureInfo.InvariantCulture, $"{why}, {rounds} rounds in a row"));
            _followers.Assign([m], primary, promotion: false);
        }
    }

    private void LogVerdict(PrimaryVerdict? before, PrimaryVerdict verdict)
    {
        var changed = before is null || before.Kind != verdict.Kind || before.Primary != verdict.Primary;
        switch (verdict.Kind)
        {
            case VerdictKind.Healthy when before is { Kind: not VerdictKind.Healthy } && before.Primary == verdict.Primary:
                Log.PrimaryRecovered(_logger, verdict.Evidence);
                _decision = verdict.Evidence;
                break;
            case VerdictKind.Suspect:
                Log.PrimarySuspect(_logger, verdict.Evidence);
                _decision = verdict.Evidence;
                break;
            case VerdictKind.Vetoed when changed:
                Log.Vetoed(_logger, verdict.Evidence);
                _decision = "failover vetoed: " + verdict.Evidence;
                break;
            case VerdictKind.Dead when changed:
                Log.PrimaryDead(_logger, verdict.Evidence);
                _decision = "primary dead: " + verdict.Evidence;
                break;
        }
    }

    /// <summary>
    /// Whether a standby's WAL sender is the primary: true when it is at the primary's address, false only when it is
    /// at another member's, null when unknown (no privilege to see it, or an address the configuration does not
    /// name, e.g. a different network path), which the second opinion treats as "from the primary".
    /// </summary>
    private bool? StreamsFrom(MemberDetails? details, Member primary)
    {
        if (details is not { SenderHost: { } host, SenderPort: { } port })
            return null;
        if (primary.IsAt(host, port))
            return true;
        return Members.Any(m => m != primary && m.IsAt(host, port)) ? false : null;
    }

    private CandidateInfo[] CandidateInfos(MemberObservation[] observations) =>
        Members.Select(m => new CandidateInfo(m.Name, m.Priority, m.Detached, observations[m.Index].Probe.Reachable,
            observations[m.Index].Probe.InRecovery, observations[m.Index].ReceivedLsn,
            WasPrimary: _snapshot.Nodes[m.Index].Role == BackendRole.Primary)).ToArray();

    private CandidateChoice Choose(MemberObservation[] observations, Member? oldPrimary, SyncStandbyNames? sync) =>
        CandidateSelector.Choose(CandidateInfos(observations), oldPrimary?.Name ?? "", sync, _options.AllowDataLoss, _primaryReceivers);

    /// <summary>
    /// A failover from a primary that does not answer (<paramref name="oldPrimary"/>; null when none is known), to the
    /// best candidate or, manual, to <paramref name="requested"/> if the choice accepts it: the candidates are checked
    /// on the positions read before, then every standby is cut off from the old primary, checked again on the positions
    /// they stopped at, and promoted. Runs under the operation lock.
    /// </summary>
    private async Task<Outcome> FailoverFromAsync(Member? oldPrimary, Member? requested, FailoverTrigger trigger, string why, MemberObservation[] observations, CancellationToken ct)
    {
        var sync = oldPrimary is null ? null : SyncStandbyNames.Parse(_primarySync);
        var choice = Choose(observations, oldPrimary, sync);
        var refusal = Refusal(choice, requested, oldPrimary);
        Member[] cutOff = [];
        if (refusal is null)
        {
            // The positions above were read before the verdict. A primary that only hung can wake up meanwhile and have
            // more commits confirmed by a standby, which could then be ahead of the one chosen: cut every standby off
            // from it first (after that none confirms anything to it), read the positions again, and choose from those.
            var cut = await CutOffStandbysAsync(oldPrimary, null, observations, ct).ConfigureAwait(false);
            cutOff = cut.Standbys;
            choice = Choose(cut.Observations, oldPrimary, sync);
            refusal = Refusal(choice, requested, oldPrimary);
            if (refusal is not null && oldPrimary is not null)
                _cutOff = (oldPrimary.Name, cut.Standbys); // no failover after all (see _cutOff)
        }
        if (refusal is not null)
        {
            if (trigger == FailoverTrigger.Automatic)
            {
                if (!string.Equals(refusal, _lastNoCandidate, StringComparison.Ordinal))
                    Log.NoCandidate(_logger, refusal);
                _lastNoCandidate = refusal;
                _decision = "primary dead, no failover: " + refusal;
            }
            return Outcome.Conflict(refusal);
        }
        _lastNoCandidate = null;
        Log.CandidateChosen(_logger, choice.Evidence);
        var candidate = requested ?? Find(choice.Chosen!.Name)!;
        var outcome = await PromoteAsync(candidate, oldPrimary, sync, trigger, why, ct).ConfigureAwait(false);
        if (outcome.Kind != OutcomeKind.Ok && oldPrimary is not null)
            _cutOff = (oldPrimary.Name, cutOff);
        return outcome;
    }

    /// <summary>
    /// Why the choice gives no candidate, or does not accept <paramref name="requested"/>; null when it does. With no
    /// primary known, nothing tells which standbys were synchronous: the requested one must at least be the most
    /// advanced of those that answer.
    /// </summary>
    private static string? Refusal(CandidateChoice choice, Member? requested, Member? oldPrimary)
    {
        if (requested is null)
            return choice.Chosen is null ? choice.Evidence : null;
        if (choice.Acceptable.FirstOrDefault(c => c.Name == requested.Name) is not { } accepted)
            return $"{requested.Name} is not a safe candidate: {choice.Evidence}";
        if (oldPrimary is null && (accepted.ReceivedLsn ?? 0) < (choice.Chosen!.ReceivedLsn ?? 0))
            return $"{requested.Name} is behind {choice.Chosen.Describe()}: with no primary known, only the most advanced standby is promoted";
        return null;
    }

    /// <summary>
    /// Stops every reachable standby's streaming from <paramref name="oldPrimary"/> (null: none known), but that of
    /// <paramref name="except"/>, and probes them again. A standby that does not stop in time is left out of the fresh
    /// observations (counted as not answering), so the candidate choice cannot rely on a position that may still move.
    /// </summary>
    private async Task<(MemberObservation[] Observations, Member[] Standbys)> CutOffStandbysAsync(Member? oldPrimary, Member? except, MemberObservation[] observations, CancellationToken ct)
    {
        var standbys = Members.Where(m => m != oldPrimary && m != except && observations[m.Index].Probe is { Reachable: true, InRecovery: true }).ToArray();
        var errors = new string?[standbys.Length];
        var stopped = await Task.WhenAll(standbys.Select(async (m, i) =>
        {
            // Twice: an idle pooled connection may have broken since its last use (the server restarted, say), and
            // the first attempt is what finds out; the second opens a fresh one.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await _mutations.StopStreamingAsync(m, _options.ProbeTimeout, _time, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (ServerErrors.Matches(e, ct))
                {
                    errors[i] = BackendProbe.Describe(e);
                    if (attempt == 2)
                        return false;
                }
            }
        })).ConfigureAwait(false);
        var fresh = (MemberObservation[])observations.Clone();
        var probes = await Task.WhenAll(standbys.Select(m => MemberProbe.ProbeAsync(m, _options.ProbeTimeout, _time, ct))).ConfigureAwait(false);
        var evidence = new List<string>();
        for (var i = 0; i < standbys.Length; i++)
        {
            var m = standbys[i];
            var notStopped = "its WAL receiver did not stop" + (errors[i] is { } error ? $" ({error})" : "");
            fresh[m.Index] = stopped[i]
                ? probes[i]
                : new MemberObservation(BackendObservation.Failed(notStopped, _time.GetUtcNow()), null);
            evidence.Add(stopped[i] && probes[i].Probe.Reachable
                ? $"{m.Name} stopped at {Lsn.Format(fresh[m.Index].ReceivedLsn)}"
                : $"{m.Name}: {(stopped[i] ? probes[i].Probe.Error : notStopped)}");
        }
        Log.StandbysCutOff(_logger, oldPrimary?.Name ?? "(none known)", evidence.Count == 0 ? "no standby answers" : string.Join(", ", evidence));
        return (fresh, standbys);
    }

    /// <summary>
    /// Promotes <paramref name="candidate"/>: first its synchronous_standby_names (so the guarantee holds from its
    /// first commit; when that fails with AllowDataLoss off, it is not promoted), a bounded wait for its replay,
    /// <c>pg_promote</c>, then the followers are repointed in the background and the hook runs. Its callers have cut
    /// the other standbys off the old primary before. Runs under the operation lock.
    /// </summary>
    private async Task<Outcome> PromoteAsync(Member candidate, Member? oldPrimary, SyncStandbyNames? sync, FailoverTrigger trigger, string why, CancellationToken ct,
        OperationKind kind = OperationKind.Failover)
    {
        var started = _time.GetTimestamp();
        Log.Promoting(_logger, candidate.Name, why.Length > 200 ? why[..200] + "..." : why, oldPrimary?.Name);
        var newSync = sync?.After(candidate.Name, oldPrimary?.Name,
            n => Find(n) is not { } m || _snapshot.Nodes[m.Index].Role != BackendRole.Primary);
        int? timeline = null;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(_options.CatchUpTimeout + _options.PromoteTimeout + TimeSpan.FromSeconds(10));
        try
        {
            if (sync is not null)
            {
                var value = newSync?.Render() ?? "";
                try
                {
                    await _mutations.SetSynchronousStandbyNamesAsync(candidate, value, bound.Token).ConfigureAwait(false);
                    Log.SyncNamesSet(_logger, candidate.Name, value, newSync is null
                        ? $"{sync} of {oldPrimary?.Name ?? "the old primary"} names no other standby: asynchronous until one is configured"
                        : $"keeps {sync} of {oldPrimary?.Name ?? "the old primary"}");
                }
                catch (Exception e) when (ServerErrors.Matches(e, ct))
                {
                    Log.SyncNamesFailed(_logger, candidate.Name, BackendProbe.Describe(e));
                    if (!_options.AllowDataLoss)
                    {
                        // Promoted without it, its first commits would be acknowledged with no standby holding them.
                        _decision = $"promotion of {candidate.Name} abandoned: could not set its synchronous_standby_names to '{value}' ({BackendProbe.Describe(e)}); without it its commits would be acknowledged by no standby (AllowDataLoss is off)";
                        return Outcome.Failed(_decision);
                    }
                }
            }
            if (!await ServerActions.WaitForReplayAsync(candidate, _options.CatchUpTimeout, _time, bound.Token).ConfigureAwait(false))
                Log.CatchUpTimedOut(_logger, candidate.Name, (long)_options.CatchUpTimeout.TotalMilliseconds);
            // Recorded before the step: whoever leads next finishes this promotion, never starts another.
            if (!await RecordPromotingAsync(kind, candidate, oldPrimary, bound.Token).ConfigureAwait(false))
            {
                _decision = $"promotion of {candidate.Name} abandoned: the operation could not be recorded in etcd first";
                return Outcome.Failed(_decision);
            }
            var promotion = await _mutations.PromoteAsync(candidate, _options.PromoteTimeout, _time, bound.Token).ConfigureAwait(false);
            if (promotion.WakeUps > 0)
                Log.PromotionWoken(_logger, candidate.Name, promotion.WakeUps, (long)ServerActions.WakeAfter.TotalMilliseconds);
            if (!promotion.Promoted)
            {
                var error = $"pg_promote() did not finish within {_options.PromoteTimeout.TotalSeconds:0} s";
                Log.PromoteFailed(_logger, candidate.Name, error);
                _decision = $"promotion of {candidate.Name} failed: {error}";
                return Outcome.Failed(_decision);
            }
            try
            {
                timeline = await ServerActions.TimelineAsync(candidate, bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (ServerErrors.Matches(e, ct))
            {
                // Only for the log and the hook; the next probe round reads it again.
            }
        }
        catch (Exception e) when (ServerErrors.Matches(e, ct))
        {
            var error = BackendProbe.Describe(e);
            Log.PromoteFailed(_logger, candidate.Name, error);
            _decision = $"promotion of {candidate.Name} failed: {error}";
            return Outcome.Failed(_decision);
        }

        var took = (long)_time.GetElapsedTime(started).TotalMilliseconds;
        _cutOff = null; // those standbys follow the new primary below
        _primary = candidate.Name;
        _detector.Reset(candidate.Name);
        _verdict = null;
        _primarySync = sync is null ? _primarySync : newSync?.Render() ?? "";
        _lastFailover = new FailoverRecord(oldPrimary?.Name, candidate.Name, timeline, _time.GetUtcNow(), took, trigger);
        _decision = string.Create(CultureInfo.InvariantCulture, $"promoted {candidate.Name} (timeline {timeline}) in {took} ms; {why}");
        Log.Promoted(_logger, candidate.Name, timeline, took);
        _metrics.Promoted(kind, trigger, _time.GetElapsedTime(started));
        await RecordPromotedAsync(candidate, ct).ConfigureAwait(false);

        // Old primaries (this one, or earlier ones not rejoined) need pg_rewind before they can follow.
        var roles = _snapshot.Nodes;
        _followers.Assign(Members.Where(m => m != candidate && m != oldPrimary && roles[m.Index].Role != BackendRole.Primary), candidate);
        _ = _hooks.Start("OnFailover", _options.Hooks.OnFailover, HookValues(oldPrimary, candidate, timeline));
        Publish();
        Wake();
        return Outcome.Ok(new FailoverResponse(candidate.Name, oldPrimary?.Name, timeline, took));
    }

    private void OnTransitions(ClusterSnapshot previous, ClusterSnapshot next, MemberObservation[] observations)
    {
        foreach (var m in Members)
        {
            var a = previous.Nodes[m.Index];
            var b = next.Nodes[m.Index];
            if (a.State != b.State && previous.Version > 0)
                Log.StateChanged(_logger, m.Name, NameOf(StateOf(a.State)), NameOf(StateOf(b.State)), b.LastError ?? b.Reason ?? "answers");
            // Idle connections to a server that stopped answering are likely broken: the next action must not be
            // the one that finds out (a failover's first steps are time-critical).
            if (!observations[m.Index].Probe.Reachable)
                m.Backend.Pool.Clear();
            if (b.State == BackendState.Fenced && a.State != BackendState.Fenced)
            {
                Log.Fenced(_logger, m.Name, b.Timeline, next.HighestTimeline);
                _followers.Forget(m.Name);
                var primary = next.Primary is { } p ? Members[p.Backend.Index] : null;
                if (MayAct)
                    _ = _hooks.Start("OnFence", _options.Hooks.OnFence, HookValues(m, primary, next.HighestTimeline));
            }
            if (observations[m.Index].Details is { WalReceiverTimeoutMs: > 10_000 and var ms } && observations[m.Index].Probe.InRecovery && _receiverWarned.Add(m.Name))
                Log.SlowReceiverTimeout(_logger, m.Name, ms);
            if (observations[m.Index].Details is { WalRetrieveRetryIntervalMs: > 5_000 and var retry } && observations[m.Index].Probe.InRecovery && _retryWarned.Add(m.Name))
                Log.SlowRetrieveRetry(_logger, m.Name, retry);
        }
    }

    private static Dictionary<string, string> HookValues(Member? old, Member? @new, int? timeline) => new(StringComparer.Ordinal)
    {
        ["old_primary"] = old?.Name ?? "",
        ["old_host"] = old?.Host ?? "",
        ["old_port"] = old?.Port.ToString(CultureInfo.InvariantCulture) ?? "",
        ["new_primary"] = @new?.Name ?? "",
        ["new_host"] = @new?.Host ?? "",
        ["new_port"] = @new?.Port.ToString(CultureInfo.InvariantCulture) ?? "",
        ["timeline"] = timeline?.ToString(CultureInfo.InvariantCulture) ?? "",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_ha is not null)
            await _ha.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
        await _followers.DrainAsync().ConfigureAwait(false);
        await _rejoins.DrainAsync().ConfigureAwait(false);
        await _hooks.DisposeAsync().ConfigureAwait(false);
        foreach (var m in Members)
            await m.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _operation.Dispose();
    }
}
