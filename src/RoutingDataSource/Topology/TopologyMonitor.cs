using Microsoft.Extensions.Logging;
using RoutingDataSource.Diagnostics;

namespace RoutingDataSource.Topology;

/// <summary>
/// The background loop that keeps the <see cref="ClusterSnapshot"/> current: every
/// <see cref="RoutingOptions.HealthCheckInterval"/>, or at once when a routed command hit a connection error
/// (coalesced: many requests during a round cause one more round), it probes every backend in parallel and swaps in
/// a new immutable snapshot. A requested round leaves out a backend whose probes fail until its
/// <see cref="ProbeBackoff"/> has passed. Routing only ever reads <see cref="Current"/>, so it never takes a lock.
/// </summary>
internal sealed class TopologyMonitor : IAsyncDisposable
{
    // Requested rounds never come closer than this; a backend that keeps failing is left out of them for longer
    // (ProbeBackoff), so a dead server that refuses instantly is no storm.
    private static readonly TimeSpan MinimumRequestedGap = ProbeBackoff.First;

    private readonly Backend[] _backends;
    private readonly RoutingOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private volatile ClusterSnapshot _current;
    private TaskCompletionSource<ClusterSnapshot> _next = NewSignal();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private int _started;
    private long _requests; // probe requests so far: one is met by the first round that starts after it
    private long _roundMet; // the loop's own: _requests as the running round started
    private volatile PublishedRound _lastPublished;
    private int _probeAllRequested;
    private readonly long[] _lastProbeStarted; // TimeProvider timestamps, per backend; 0 never probed

    public TopologyMonitor(Backend[] backends, RoutingOptions options, ILogger logger, TimeProvider time)
    {
        _backends = backends;
        _options = options;
        _logger = logger;
        _time = time;
        _current = ClusterSnapshot.Initial(backends);
        _lastPublished = new PublishedRound(_current, 0);
        _lastProbeStarted = new long[backends.Length];
    }

    /// <summary>Raised on the monitor's loop after each new snapshot is published.</summary>
    public event Action<ClusterSnapshot, ClusterSnapshot>? SnapshotPublished;

    public ClusterSnapshot Current => _current;

    /// <summary>Starts the loop on first use; cheap and idempotent afterwards.</summary>
    public void EnsureStarted()
    {
        if (Volatile.Read(ref _started) != 0 || Interlocked.CompareExchange(ref _started, 1, 0) != 0)
            return;
        Log.MonitorStarted(_logger, _backends.Length);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>
    /// Asks for a probe round that starts after this call, as soon as possible (coalesced: the requests made while a
    /// round runs cause one more round, those made before a round starts are met by it).
    /// </summary>
    public void RequestProbe() => Request();

    // Returns the request's number: the rounds whose RequestsMet is at least that meet it.
    private long Request()
    {
        var ticket = Interlocked.Increment(ref _requests); // before the loop can start: its first round then meets this request
        EnsureStarted();
        Volatile.Read(ref _wake).TrySetResult();
        return ticket;
    }

    /// <summary>Completes with the next snapshot published after this call.</summary>
    public Task<ClusterSnapshot> NextSnapshotAsync(CancellationToken cancellationToken)
    {
        EnsureStarted();
        return Volatile.Read(ref _next).Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Returns the current snapshot once the first probe round has finished, waiting for it (bounded) when needed.
    /// </summary>
    public async ValueTask<ClusterSnapshot> GetReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var s = _current;
        if (s.Version > 0)
            return s;
        EnsureStarted();
        try
        {
            return await NextSnapshotAsync(cancellationToken).WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return _current;
        }
    }

    /// <summary>Forces a probe round now and returns the first snapshot of a round that started after this call (one that met its request).</summary>
    /// <remarks>
    /// One request: a round that was already running when it came is followed by one more round, which meets it. Asking
    /// again after that running round had ended would cost a third round, one that may see what the caller does next.
    /// </remarks>
    public async Task<ClusterSnapshot> ProbeNowAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _probeAllRequested, 1); // before the request: the round that meets it probes every backend
        var ticket = Request();
        while (true)
        {
            var signal = Volatile.Read(ref _next).Task; // before the check: a round published after it completes it
            if (_lastPublished is { RequestsMet: var met, Snapshot: var s } && met >= ticket)
                return s;
            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var lastRound = DateTimeOffset.MinValue;
        var requested = false; // the first round and scheduled ones probe every backend
        while (!stop.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _roundMet = Volatile.Read(ref _requests); // every request counted here is met by this round
            // Read as the round starts, so that a refresh whose request this round meets probes every backend.
            var all = Interlocked.Exchange(ref _probeAllRequested, 0) != 0;
            try
            {
                lastRound = _time.GetUtcNow();
                await RoundAsync(lastRound, _time.GetTimestamp(), backoff: requested && !all, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                Log.MonitorRoundFailed(_logger, e);
            }

            try
            {
                if (!await RequestedSinceAsync(_roundMet, stop).ConfigureAwait(false))
                {
                    requested = false;
                    continue;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
            requested = true;
            var since = _time.GetUtcNow() - lastRound;
            if (since < MinimumRequestedGap)
            {
                try
                {
                    await Task.Delay(MinimumRequestedGap - since, _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    // Waits up to an interval for a request the last round did not meet (true), else for the interval (false). A
    // request that round met may still wake the loop (it completed the new wake signal): it is then waited past.
    private async Task<bool> RequestedSinceAsync(long met, CancellationToken stop)
    {
        var until = _time.GetTimestamp() + (long)(_options.HealthCheckInterval.TotalSeconds * _time.TimestampFrequency);
        while (Volatile.Read(ref _requests) == met)
        {
            var wake = Volatile.Read(ref _wake);
            var left = TimeSpan.FromSeconds((until - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
            if (left <= TimeSpan.Zero)
                return false;
            try
            {
                await wake.Task.WaitAsync(left, _time, stop).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
            if (Volatile.Read(ref _requests) == met)
                Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
        }
        return true;
    }

    private async Task RoundAsync(DateTimeOffset startedAt, long startedTimestamp, bool backoff, CancellationToken stop)
    {
        // Read once, as the round starts: the snapshot is built from this copy, not from the mutable flags.
        var detached = SnapshotBuilder.DetachedFlags(_current);
        var tasks = new Task<BackendObservation>[_backends.Length];
        for (var i = 0; i < _backends.Length; i++)
        {
            var node = _current.Nodes[i];
            if (backoff && !node.LastProbeOk
                && !ProbeBackoff.IsDue(node.ConsecutiveFailures, _lastProbeStarted[i], startedTimestamp, _options.HealthCheckInterval, _time))
            {
                tasks[i] = Task.FromResult(BackendObservation.Pending); // no news: it stays as it was
                continue;
            }
            _lastProbeStarted[i] = startedTimestamp;
            tasks[i] = BackendProbe.ProbeAsync(_backends[i].ProbePool, _options.HealthCheckTimeout, _time, stop);
        }
        var all = Task.WhenAll(tasks);
        bool[]? published = null;
        if (!all.IsCompleted && _options.HealthCheckInterval < _options.HealthCheckTimeout)
        {
            // A hung server's probe takes the whole HealthCheckTimeout. The others' news (a standby just promoted, say)
            // must not wait for it: after an interval, publish what has come in, the hung server as it was.
            await Task.WhenAny(all, Task.Delay(_options.HealthCheckInterval, _time, stop)).ConfigureAwait(false);
            stop.ThrowIfCancellationRequested();
            if (!all.IsCompleted)
                published = PublishInterim(tasks, detached, startedAt, startedTimestamp);
        }
        var observations = await all.ConfigureAwait(false);
        for (var i = 0; i < observations.Length; i++)
        {
            if (published is not null && published[i])
                observations[i] = BackendObservation.Pending; // counted in the interim snapshot already
            else if (observations[i] is { Reachable: false, IsPending: false })
                Log.ProbeFailed(_logger, _backends[i].Name, observations[i].Error);
        }
        Publish(SnapshotBuilder.Build(_current, observations, detached, _options, startedAt, startedTimestamp));
    }

    // Returns which backends' observations the interim snapshot took in (null when none had answered yet).
    private bool[]? PublishInterim(Task<BackendObservation>[] tasks, bool[] detached, DateTimeOffset startedAt, long startedTimestamp)
    {
        var interim = new BackendObservation[tasks.Length];
        var taken = new bool[tasks.Length];
        var any = false;
        for (var i = 0; i < tasks.Length; i++)
        {
            taken[i] = tasks[i].IsCompletedSuccessfully;
            interim[i] = taken[i] ? tasks[i].Result : BackendObservation.Pending;
            if (taken[i] && interim[i] is { Reachable: false, IsPending: false })
                Log.ProbeFailed(_logger, _backends[i].Name, interim[i].Error);
            any |= taken[i];
        }
        if (!any)
            return null;
        Publish(SnapshotBuilder.Build(_current, interim, detached, _options, startedAt, startedTimestamp));
        return taken;
    }

    private void Publish(ClusterSnapshot next)
    {
        var previous = _current;
        _current = next;
        _lastPublished = new PublishedRound(next, _roundMet);
        AbandonStatementsOnBackendsTakenOutOfService(previous, next);
        ResetReplayEstimatesOfCaughtUpStandbys(next);
        LogTransitions(previous, next);
        var signal = Interlocked.Exchange(ref _next, NewSignal());
        signal.TrySetResult(next);
        SnapshotPublished?.Invoke(previous, next);
    }

    /// <summary>
    /// A backend that went out of service (no longer up: down or fenced) or stopped being the primary has its waiting
    /// operations abandoned now, not at the OS TCP timeout: their callers stop waiting (a read is re-run elsewhere, a
    /// write is reported as possibly committed) and their physical connections are never used again. Runs once per
    /// published snapshot, after it is current, so that a re-run is routed by it.
    /// </summary>
    private void AbandonStatementsOnBackendsTakenOutOfService(ClusterSnapshot previous, ClusterSnapshot next)
    {
        for (var i = 0; i < next.Nodes.Length; i++)
        {
            var a = previous.Nodes[i];
            var b = next.Nodes[i];
            if (TakenOutOfService(a, b))
            {
                var abandoned = b.Backend.InFlight.AbandonAll();
                if (abandoned > 0)
                    Log.StatementsAbandoned(_logger, b.Backend.Name, abandoned);
            }
        }
    }

    // A standby the probe found replaying and fully replayed keeps up with the primary now, whatever made it miss before.
    private static void ResetReplayEstimatesOfCaughtUpStandbys(ClusterSnapshot next)
    {
        foreach (var n in next.Nodes)
        {
            if (n is { Role: BackendRole.Standby, LastProbeOk: true, LagBytes: 0 } && n.ReplayPaused != true)
                n.Backend.Replay.CaughtUp();
        }
    }

    private static bool TakenOutOfService(NodeState before, NodeState after)
        => (before.State == BackendState.Up && after.State != BackendState.Up)
           || (before.Role == BackendRole.Primary && after.Role == BackendRole.Standby);

    private void LogTransitions(ClusterSnapshot previous, ClusterSnapshot next)
    {
        for (var i = 0; i < next.Nodes.Length; i++)
        {
            var a = previous.Nodes[i];
            var b = next.Nodes[i];
            var name = b.Backend.Name;
            if (a.State != b.State)
            {
                switch (b.State)
                {
                    case BackendState.Down:
                        Log.BackendDown(_logger, name, b.LastError ?? b.Reason);
                        break;
                    case BackendState.Up:
                        Log.BackendUp(_logger, name, b.Role);
                        break;
                    case BackendState.Fenced:
                        Log.Fenced(_logger, name, b.Reason);
                        break;
                }
            }
            // Warned once per spell: a standby being repointed has no row for a moment, and once its row is back
            // (a sync_state means the primary lists it by name) the warning is taken back and may come again.
            if (b.ApplicationNameMismatch && Interlocked.Exchange(ref b.Backend.MismatchLogged, 1) == 0)
                Log.ApplicationNameMismatch(_logger, name);
            else if (b.SyncState is not null && Interlocked.Exchange(ref b.Backend.MismatchLogged, 0) == 1)
                Log.ApplicationNameMatched(_logger, name);
            // At once and once: a wrong password is no outage, and the Down event of a backend never up never comes.
            if (b.PermanentError is { } advice && Interlocked.Exchange(ref b.Backend.PermanentErrorLogged, 1) == 0)
                Log.PermanentConnectionError(_logger, name, b.Backend.Host, b.Backend.Port, b.LastError, advice);
            else if (b.LastProbeOk && Volatile.Read(ref b.Backend.PermanentErrorLogged) != 0)
                Volatile.Write(ref b.Backend.PermanentErrorLogged, 0);
            if (a.Role != b.Role && a.Role != BackendRole.Unknown && b.Role != BackendRole.Unknown)
                Log.RoleChanged(_logger, name, a.Role, b.Role, b.Timeline);
            if (b.Role == BackendRole.Standby && b.State == BackendState.Up && a.ReadEligible != b.ReadEligible && b.LastProbeOk)
            {
                if (b.ReadEligible)
                    Log.StandbyEligible(_logger, name);
                else
                    Log.StandbyIneligible(_logger, name, b.Reason);
            }
        }
        var oldPrimary = previous.Primary?.Backend.Name;
        var newPrimary = next.Primary?.Backend.Name;
        if (!string.Equals(oldPrimary, newPrimary, StringComparison.Ordinal))
        {
            if (newPrimary is null && next.Problem == ClusterProblem.TwoPrimaries)
                Log.SplitBrain(_logger, next.ProblemMessage ?? "two primaries");
            else if (newPrimary is null)
                Log.NoPrimary(_logger, next.ProblemMessage ?? "unknown");
            else
                Log.PrimaryChanged(_logger, oldPrimary, newPrimary);
        }
    }

    // A published snapshot and the requests its round met (see RequestProbe).
    private sealed record PublishedRound(ClusterSnapshot Snapshot, long RequestsMet);

    private static TaskCompletionSource<ClusterSnapshot> NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _next.TrySetCanceled();
        _stop.Dispose();
    }
}
