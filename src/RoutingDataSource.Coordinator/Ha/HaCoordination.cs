using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>What <c>GET /cluster</c>, <c>/health</c> and <c>status</c> say about leadership and etcd (null when the coordinator runs alone).</summary>
internal sealed record HaStatus(
    string Etcd,
    bool EtcdAvailable,
    bool Leads,
    long LeaseId,
    double LeaseTtlSeconds,
    long? FencingToken,
    long? LeadsForMs,
    OperationRecord? Operation);

/// <summary>
/// HA mode's moving parts for one coordinator: its etcd connection, its campaign (<see cref="LeaderElection"/>), the
/// <see cref="LeaderGuard"/> every mutation passes, the durable <see cref="ClusterStateStore"/> and the coordinators'
/// registry. A background loop keeps the registry view and the state fresh on every coordinator, leader or not, and
/// remembers whether etcd answers, for <c>/health</c> and <c>status</c>.
/// </summary>
internal sealed class HaCoordination : IAsyncDisposable
{
    private readonly CoordinatorEtcdOptions _options;
    private readonly string _name;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly EtcdConnection _etcd;
    private readonly HaKeys _keys;
    private readonly CoordinatorRegistry _registry;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private LeaderElection? _election;
    private Task _loops = Task.CompletedTask;
    private volatile CoordinatorsView? _coordinators;
    private volatile ClusterState? _state;
    private const string NotContacted = "not contacted yet";
    private volatile string? _etcdProblem = NotContacted;
    private volatile bool _crashed;

    public HaCoordination(CoordinatorEtcdOptions options, string name, TimeProvider time, ILogger logger)
    {
        _options = options;
        _name = name;
        _time = time;
        _logger = logger;
        _keys = new HaKeys(options.Prefix);
        _etcd = new EtcdConnection(options, LeaseDeadline.RequestTimeout(options.LeaseTtl));
        _registry = new CoordinatorRegistry(_etcd, _keys);
        Store = new ClusterStateStore(_etcd, _keys);
        Guard = new LeaderGuard(this, logger);
    }

    public LeaderGuard Guard { get; }

    public ClusterStateStore Store { get; }

    /// <summary>The election, once <see cref="Start"/> ran.</summary>
    public LeaderElection? Election => _election;

    /// <summary>Called with every state read from etcd (every coordinator applies the detached members from it).</summary>
    public Action<ClusterState>? StateRead { get; set; }

    /// <summary>Whether this coordinator may act as leader now.</summary>
    public bool IsLeader => !_crashed && _election?.IsLeader == true;

    /// <summary>The current term's fencing token while leading, else null.</summary>
    public long? FencingToken => IsLeader ? _election!.Term?.FencingToken : null;

    /// <summary>This coordinator's name.</summary>
    public string Name => _name;

    /// <summary>The leader as last read (null while nobody leads or etcd does not answer).</summary>
    public string? Leader => _etcdProblem is null ? _election?.Leader : null;

    /// <summary>The registered coordinators as last read (empty while etcd does not answer).</summary>
    public IReadOnlyList<CoordinatorInfo> Coordinators =>
        _etcdProblem is null && _coordinators is { } view ? [.. view.Coordinators.Select(c => c with { Leader = c.Name == Leader })] : [];

    /// <summary>The durable state as last read or written (null before the first read).</summary>
    public ClusterState? State => _state;

    /// <summary>Why etcd is not usable now (unreachable, no quorum), or null when it answers.</summary>
    public string? EtcdProblem => _etcdProblem;

    public HaStatus Status
    {
        get
        {
            var term = IsLeader ? _election!.Term : null;
            return new HaStatus(_etcdProblem is { } problem ? $"unavailable: {problem}; nobody promotes until it answers" : "ok", _etcdProblem is null,
                term is not null, _election?.LeaseId ?? 0, _options.LeaseTtl.TotalSeconds, term?.FencingToken,
                term is null ? null : (long)term.Remaining().TotalMilliseconds, _state?.Operation.Value);
        }
    }

    /// <summary>Starts campaigning, registered with <paramref name="http"/> (how the others forward POSTs to it).</summary>
    public void Start(string http)
    {
        _election = new LeaderElection(_etcd, _keys, _name, http, _options.LeaseTtl, _time, _logger);
        HaLog.HaMode(_logger, _name, string.Join(',', _options.Endpoints), _options.Prefix, (long)_options.LeaseTtl.TotalSeconds);
        var election = _election;
        _loops = Task.WhenAll(
            Task.Run(() => election.RunAsync(_stop.Token), CancellationToken.None),
            Task.Run(() => RefreshAsync(_stop.Token), CancellationToken.None));
    }

    /// <summary>
    /// The fencing check before a step: null when this coordinator leads and etcd confirms its leader key is unchanged
    /// (a transaction comparing it), else why not.
    /// </summary>
    public async Task<string?> FenceAsync(CancellationToken cancellationToken)
    {
        if (_crashed)
            return "this coordinator crashed (test crash point)";
        if (_election is not { } election || !election.IsLeader)
            return $"this coordinator does not lead (leader: {Leader ?? "none"})";
        try
        {
            var result = await election.GuardedMutationAsync([], [], cancellationToken).ConfigureAwait(false);
            return result.Outcome switch
            {
                GuardedOutcome.Applied => _crashed ? "this coordinator crashed (test crash point)" : null,
                _ => "etcd refused the fencing token: another coordinator leads now",
            };
        }
        catch (Exception e) when (EtcdConnection.IsUnavailable(e))
        {
            return $"etcd did not confirm the leadership ({e.Message})";
        }
    }

    /// <summary>Reads the durable state now (a new leader does, before it acts).</summary>
    public async Task<ClusterState> ReadStateAsync(CancellationToken cancellationToken)
    {
        var state = await Store.ReadAsync(cancellationToken).ConfigureAwait(false);
        _state = state;
        return state;
    }

    /// <summary>
    /// Writes <paramref name="change"/> of the state, as leader, with compare-and-swap (read again and retried once on a
    /// conflict). False when it could not be written (not leading, etcd unavailable): the caller must not go on with
    /// a step that needs the record.
    /// </summary>
    public async Task<bool> UpdateStateAsync(string what, Func<ClusterState, ClusterState> change, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; attempt <= 2; attempt++)
            {
                if (_crashed || _election is not { } election)
                    return false;
                try
                {
                    var basis = _state ?? await ReadStateAsync(cancellationToken).ConfigureAwait(false);
                    var result = await Store.WriteAsync(election, basis, change(basis), cancellationToken).ConfigureAwait(false);
                    if (result.Outcome == GuardedOutcome.Applied && !_crashed)
                    {
                        _state = result.State;
                        HaLog.State(_logger, what);
                        return true;
                    }
                    if (result.Outcome == GuardedOutcome.NotLeader)
                    {
                        HaLog.StateWriteFailed(_logger, what, "this coordinator does not lead");
                        return false;
                    }
                    _state = null; // a conflict: read again
                }
                catch (Exception e) when (EtcdConnection.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
                {
                    HaLog.StateWriteFailed(_logger, what, e.Message);
                    _state = null;
                    return false;
                }
            }
            HaLog.StateWriteFailed(_logger, what, "the state kept changing under it");
            return false;
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Test hook: the process "dies" here: no more steps or state writes, no renewals, no resignation (the lease runs out in etcd).</summary>
    internal void CrashForTests()
    {
        if (_crashed)
            return;
        _crashed = true;
        HaLog.Crashed(_logger, _name);
        _stop.Cancel();
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var interval = LeaseDeadline.CampaignInterval(_options.LeaseTtl);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                _coordinators = await _registry.ReadAsync(cancellationToken).ConfigureAwait(false);
                // The leader's own cache is what it wrote; re-read it only while following.
                var state = IsLeader && _state is { } mine ? mine : await ReadStateAsync(cancellationToken).ConfigureAwait(false);
                if (_etcdProblem is { } was && !ReferenceEquals(was, NotContacted))
                    HaLog.EtcdBack(_logger);
                _etcdProblem = null;
                StateRead?.Invoke(state);
            }
            catch (Exception e) when (EtcdConnection.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                _etcdProblem = $"etcd does not answer (unreachable or without quorum): {e.Message}";
            }
            catch (InvalidDataException e)
            {
                _etcdProblem = e.Message;
            }
            catch (Exception e) when (EtcdConnection.IsUnavailable(e))
            {
                break; // stopping: the call in flight was cancelled
            }
            try
            {
                await Task.Delay(interval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loops.ConfigureAwait(false);
        if (_election is { } election)
        {
            if (!_crashed)
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await election.ResignAsync(bound.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (EtcdConnection.IsUnavailable(e))
                {
                    // The lease runs out by itself.
                }
            }
            election.Dispose();
        }
        _etcd.Dispose();
        _writing.Dispose();
        _stop.Dispose();
    }
}
