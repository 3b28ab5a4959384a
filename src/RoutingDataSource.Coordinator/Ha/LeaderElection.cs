using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// One coordinator's campaign for the cluster's leader key, on its own lease and transactions (not dotnet-etcd's
/// election helpers). Each cycle renews the lease (granting a new one when it is gone), registers the coordinator,
/// then in one transaction creates <c>{Prefix}/leader</c> = name, bound to the lease, if no such key exists
/// (<c>create_revision == 0</c>), and reads who holds it. The holder leads until its deadline: the last renewal's send
/// time + TTL − a safety margin, so it stops acting before etcd can expire its lease and let another take over, as
/// Patroni does. Each write a leader makes goes through <see cref="GuardedMutationAsync"/>, which compares the
/// leader key with this term's, so a deposed leader's late step fails in etcd itself.
/// </summary>
internal sealed class LeaderElection : IDisposable
{
    private readonly EtcdConnection _etcd;
    private readonly HaKeys _keys;
    private readonly CoordinatorRegistry _registry;
    private readonly string? _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HaMetrics _metrics;
    private long _leaseId;
    private long _leaseDeadline;
    private bool _registered;
    private LeadershipTerm? _term;
    private volatile string? _leader;

    public LeaderElection(EtcdConnection etcd, HaKeys keys, string name, string? http, TimeSpan leaseTtl, TimeProvider time, ILogger logger)
    {
        _etcd = etcd;
        _keys = keys;
        _registry = new CoordinatorRegistry(etcd, keys);
        Name = name;
        _http = http;
        LeaseTtl = leaseTtl;
        _time = time;
        _logger = logger;
        _metrics = new HaMetrics(name, () => IsLeader);
    }

    /// <summary>This coordinator's name: the leader key's value while it leads.</summary>
    public string Name { get; }

    /// <summary>The TTL asked for each lease.</summary>
    public TimeSpan LeaseTtl { get; }

    /// <summary>The current term while it holds (before its deadline, not deposed), else null.</summary>
    public LeadershipTerm? Term => Volatile.Read(ref _term) is { IsValid: true } term ? term : null;

    /// <summary>Whether this coordinator may act as leader right now. Check it just before each step; guard the step's write with <see cref="GuardedMutationAsync"/>.</summary>
    public bool IsLeader => Term is not null;

    /// <summary>The leader key's holder as last read (this coordinator included), null when the key was vacant or etcd unreachable.</summary>
    public string? Leader => _leader;

    /// <summary>The lease this coordinator's keys are bound to (0 before the first grant or after it was lost).</summary>
    public long LeaseId => Interlocked.Read(ref _leaseId);

    internal HaMetrics Metrics => _metrics;

    /// <summary>Campaigns and, while leading, renews, until <paramref name="cancellationToken"/> fires; etcd failures are logged and retried.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan pause;
            try
            {
                pause = await StepAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (EtcdConnection.IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                HaLog.EtcdUnavailable(_logger, "campaign", e.Message);
                _leader = null;
                pause = TimeSpan.FromTicks(Math.Min(LeaseDeadline.CampaignInterval(LeaseTtl).Ticks, TimeSpan.FromMilliseconds(250).Ticks));
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                HaLog.ElectionFailed(_logger, e);
                pause = LeaseDeadline.CampaignInterval(LeaseTtl);
            }
            catch (Exception e) when (EtcdConnection.IsUnavailable(e))
            {
                break; // stopping: the call in flight was cancelled
            }

            ExpireTermIfDue();
            try
            {
                await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        EndTerm("the coordinator is stopping");
    }

    /// <summary>One cycle: renew or grant the lease, register, campaign. Returns how long to wait before the next.</summary>
    internal async Task<TimeSpan> StepAsync(CancellationToken cancellationToken)
    {
        ExpireTermIfDue();
        if (LeaseId == 0)
        {
            await GrantAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (!await RenewAsync(cancellationToken).ConfigureAwait(false))
        {
            HaLog.LeaseLost(_logger, LeaseId);
            EndTerm("its lease ended in etcd");
            Interlocked.Exchange(ref _leaseId, 0);
            _registered = false;
            return TimeSpan.Zero;
        }

        if (!_registered)
        {
            _registered = await _registry.RegisterAsync(Name, _http, LeaseId, cancellationToken).ConfigureAwait(false);
            if (!_registered)
            {
                HaLog.NameTaken(_logger, Name, _keys.Member(Name));
                return LeaseDeadline.CampaignInterval(LeaseTtl);
            }
        }

        await CampaignAsync(cancellationToken).ConfigureAwait(false);
        return IsLeader ? LeaseDeadline.RenewInterval(LeaseTtl) : LeaseDeadline.CampaignInterval(LeaseTtl);
    }

    /// <summary>
    /// An etcd transaction that applies <paramref name="operations"/> only if the leader key is still this term's
    /// (same create revision, value and lease) and every one of <paramref name="compares"/> holds. Not sent at all
    /// when this coordinator does not lead; bounded by the term's deadline. A refusal because the leader key changed
    /// ends the term. An exception (etcd unreachable, deadline) leaves the outcome unknown: read the state again.
    /// </summary>
    public async Task<GuardedResult> GuardedMutationAsync(IEnumerable<Compare> compares, IEnumerable<RequestOp> operations, CancellationToken cancellationToken)
    {
        if (Term is not { } term)
            return new GuardedResult(GuardedOutcome.NotLeader, null);
        var leaderKey = ByteString.CopyFromUtf8(_keys.Leader);
        var request = new TxnRequest
        {
            Compare =
            {
                new Compare { Key = leaderKey, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = term.FencingToken },
                new Compare { Key = leaderKey, Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = ByteString.CopyFromUtf8(Name) },
                new Compare { Key = leaderKey, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = term.LeaseId },
            },
            Failure = { new RequestOp { RequestRange = EtcdConnection.Range(_keys.Leader, prefix: false) } },
        };
        request.Compare.AddRange(compares);
        request.Success.AddRange(operations);

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, term.Ending);
        var response = await _etcd.TxnAsync(request, linked.Token, DateTime.UtcNow + term.Remaining()).ConfigureAwait(false);
        if (response.Succeeded)
            return new GuardedResult(GuardedOutcome.Applied, response);
        var holder = response.Responses[0].ResponseRange.Kvs.FirstOrDefault();
        if (holder is null || holder.CreateRevision != term.FencingToken || holder.Lease != term.LeaseId || holder.Value.ToStringUtf8() != Name)
        {
            EndTerm(holder is null ? "deposed: the leader key is gone" : $"deposed: the leader key is {holder.Value.ToStringUtf8()}'s (created at revision {holder.CreateRevision})", term);
            return new GuardedResult(GuardedOutcome.NotLeader, response);
        }

        return new GuardedResult(GuardedOutcome.Conflict, response);
    }

    /// <summary>
    /// Leaves cleanly: deletes the leader key if it is still this term's and revokes the lease (the registration goes
    /// with it), so that another coordinator leads at once. Call it after <see cref="RunAsync"/> has returned.
    /// </summary>
    public async Task ResignAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _term) is { } term)
        {
            var leaderKey = ByteString.CopyFromUtf8(_keys.Leader);
            EndTerm("it resigned", term);
            await _etcd.TxnAsync(
                new TxnRequest
                {
                    Compare = { new Compare { Key = leaderKey, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = term.FencingToken } },
                    Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = leaderKey } } },
                },
                cancellationToken).ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _leaseId, 0) is var lease and not 0)
        {
            try
            {
                await _etcd.RevokeLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
            {
                // The lease expired already (a starved or cut-off coordinator): its keys are gone, as a revocation wants.
            }
        }
        _registered = false;
    }

    public void Dispose()
    {
        EndTerm("the coordinator is stopping");
        _metrics.Dispose();
    }

    private async Task GrantAsync(CancellationToken cancellationToken)
    {
        var sent = _time.GetTimestamp();
        var lease = await _etcd.GrantLeaseAsync((long)LeaseTtl.TotalSeconds, cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _leaseDeadline, LeaseDeadline.After(sent, TimeSpan.FromSeconds(lease.TTL), LeaseTtl, _time));
        Interlocked.Exchange(ref _leaseId, lease.ID);
        _registered = false;
        HaLog.LeaseGranted(_logger, lease.ID, lease.TTL);
    }

    private async Task<bool> RenewAsync(CancellationToken cancellationToken)
    {
        var sent = _time.GetTimestamp();
        long ttl;
        try
        {
            ttl = await _etcd.KeepAliveOnceAsync(LeaseId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (EtcdConnection.IsUnavailable(e))
        {
            _metrics.RenewFailed();
            throw;
        }

        if (ttl <= 0)
            return false;
        _metrics.Renewed(_time.GetElapsedTime(sent));
        Interlocked.Exchange(ref _leaseDeadline, LeaseDeadline.After(sent, TimeSpan.FromSeconds(ttl), LeaseTtl, _time));
        return true;
    }

    private async Task CampaignAsync(CancellationToken cancellationToken)
    {
        var leaderKey = ByteString.CopyFromUtf8(_keys.Leader);
        var read = new RequestOp { RequestRange = EtcdConnection.Range(_keys.Leader, prefix: false) };
        var response = await _etcd.TxnAsync(
            new TxnRequest
            {
                Compare = { new Compare { Key = leaderKey, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = leaderKey, Value = ByteString.CopyFromUtf8(Name), Lease = LeaseId } }, read },
                Failure = { read },
            },
            cancellationToken).ConfigureAwait(false);
        var holder = response.Responses[^1].ResponseRange.Kvs.FirstOrDefault();
        var leader = holder?.Value.ToStringUtf8();
        if (leader != _leader)
            HaLog.LeaderObserved(_logger, leader);
        _leader = leader;

        var current = Volatile.Read(ref _term);
        if (holder is null || leader != Name || holder.Lease != LeaseId)
        {
            EndTerm(holder is null ? "the leader key is gone" : $"the leader key is {leader}'s", current);
            return;
        }

        var deadline = Interlocked.Read(ref _leaseDeadline);
        if (current is { IsValid: true } && current.FencingToken == holder.CreateRevision)
        {
            current.Extend(deadline);
            return;
        }

        EndTerm("a new term begins", current);
        if (_time.GetTimestamp() >= deadline)
            return; // the renewal is already too old to act on: the next cycle renews first
        var term = new LeadershipTerm(holder.CreateRevision, LeaseId, deadline, _time);
        if (Interlocked.CompareExchange(ref _term, term, null) is not null)
            return;

        _metrics.LeaderChange(leads: true);
        HaLog.BecameLeader(_logger, Name, LeaseId, term.FencingToken, (long)term.Remaining().TotalMilliseconds);
    }

    private void ExpireTermIfDue()
    {
        if (Volatile.Read(ref _term) is { IsValid: false } term)
            EndTerm($"its lease was not renewed in time (it stops acting {LeaseDeadline.SafetyMargin(LeaseTtl).TotalMilliseconds:0} ms before the lease could expire)", term);
    }

    private void EndTerm(string reason, LeadershipTerm? expected = null)
    {
        var term = expected ?? Volatile.Read(ref _term);
        if (term is null || Interlocked.CompareExchange(ref _term, null, term) != term)
            return;
        term.End();
        _metrics.LeaderChange(leads: false);
        HaLog.LeadershipLost(_logger, Name, reason);
        // Not disposed: a guarded write in flight may still hold its Ending token.
    }
}
