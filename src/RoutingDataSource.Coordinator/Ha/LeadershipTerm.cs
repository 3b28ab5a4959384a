namespace RoutingDataSource.Coordinator.Ha;

/// <summary>
/// One stretch of leadership: the leader key this coordinator created, and until when it may act on it. The
/// <see cref="FencingToken"/> (the key's create revision) is unique per term; every guarded write compares it.
/// </summary>
internal sealed class LeadershipTerm : IDisposable
{
    private readonly CancellationTokenSource _ending;
    private readonly TimeProvider _time;
    private long _deadline;

    public LeadershipTerm(long fencingToken, long leaseId, long deadlineTimestamp, TimeProvider time)
    {
        FencingToken = fencingToken;
        LeaseId = leaseId;
        _time = time;
        _deadline = deadlineTimestamp;
        StartedTimestamp = time.GetTimestamp();
        _ending = new CancellationTokenSource(Remaining(), time);
    }

    /// <summary>The create revision of the leader key of this term.</summary>
    public long FencingToken { get; }

    /// <summary>The lease the leader key is bound to.</summary>
    public long LeaseId { get; }

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> at which this coordinator began to act as leader in this term.</summary>
    public long StartedTimestamp { get; }

    /// <summary>The <see cref="TimeProvider.GetTimestamp"/> after which this term is over unless renewed: last renewal sent + TTL − safety margin.</summary>
    public long DeadlineTimestamp => Interlocked.Read(ref _deadline);

    /// <summary>Whether the term still holds now: before its deadline and not ended.</summary>
    public bool IsValid => !_ending.IsCancellationRequested && _time.GetTimestamp() < DeadlineTimestamp;

    /// <summary>Time left before the deadline (zero when past).</summary>
    public TimeSpan Remaining()
    {
        var left = _time.GetElapsedTime(_time.GetTimestamp(), DeadlineTimestamp);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Cancelled when the term ends (deadline reached, deposed, resigned): pass it to whatever acts as leader.</summary>
    public CancellationToken Ending => _ending.Token;

    /// <summary>A successful renewal moves the deadline (never backwards) and re-arms <see cref="Ending"/>.</summary>
    public void Extend(long deadlineTimestamp)
    {
        if (_ending.IsCancellationRequested || deadlineTimestamp <= DeadlineTimestamp)
            return;
        Interlocked.Exchange(ref _deadline, deadlineTimestamp);
        _ending.CancelAfter(Remaining());
    }

    /// <summary>Ends the term now.</summary>
    public void End()
    {
        try
        {
            _ending.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _ending.Dispose();
}
