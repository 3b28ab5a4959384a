using System.Threading.Tasks.Sources;

namespace RoutingDataSource.Topology;

/// <summary>
/// One reusable place in <see cref="InFlightStatements"/> for an operation waiting on the backend's server, and the
/// awaitable of that wait: it completes with true when the operation finished, with false when the wait was abandoned
/// (the backend taken out of service, or the wait's give-up token fired).
/// </summary>
/// <remarks>
/// <para>
/// The whole life of a use is one 64-bit word: a version (moved on by each claim, so that nobody acting on an earlier
/// use can touch a later one) and a phase. Free -> Claimed (one caller owns it) -> Waiting (the caller awaits; the
/// monitor may now see it) -> Finished (the operation ended first; the caller is resumed on the operation's own
/// completion, as a direct await would be) -> Free when the caller takes the result.
/// </para>
/// <para>
/// Abandoned: whoever abandons (the monitor, the caller itself when it sees the epoch moved as it starts waiting, or
/// the give-up token) resumes the caller on the thread pool. The slot is free again only once both the caller has taken
/// its result and the operation has ended: until then the operation's completion still points at this object.
/// </para>
/// </remarks>
internal sealed class InFlightSlot : IValueTaskSource<bool>
{
    private const long Free = 0;
    private const long Claimed = 1;
    private const long Waiting = 2;
    private const long Finished = 3;
    private const long Abandoned = 4; // the operation runs on, the caller has not taken its result yet
    private const long AbandonedOperationEnded = 5; // the caller has not taken its result yet
    private const long AbandonedResultTaken = 6; // the operation runs on
    private const long PhaseMask = 0xFF;

    private static readonly Action<object?> OnGiveUp = static s => ((InFlightSlot)s!).TryAbandonCurrent();

    private readonly Action _onOperationEnded;
    private long _state;
    private int _sentInEpoch;
    private InFlightStatements? _owner;
    private Task? _operation;
    private CancellationToken _giveUp;
    private CancellationTokenRegistration _registration;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private ExecutionContext? _executionContext;

    public InFlightSlot()
    {
        _onOperationEnded = OnOperationEnded;
    }

    internal bool IsWaiting => Phase(Volatile.Read(ref _state)) == Waiting;

    /// <summary>Takes the slot if it is free (one compare-and-swap).</summary>
    public bool TryClaim()
    {
        var s = Volatile.Read(ref _state);
        return Phase(s) == Free && Interlocked.CompareExchange(ref _state, Next(s), s) == s;
    }

    /// <summary>The awaitable for a claimed slot (see <see cref="InFlightStatements.FinishesAsync"/>).</summary>
    public ValueTask<bool> Watch(Task operation, int sentInEpoch, InFlightStatements owner, CancellationToken giveUp)
    {
        _operation = operation;
        _sentInEpoch = sentInEpoch;
        _owner = owner;
        _giveUp = giveUp;
        return new ValueTask<bool>(this, Token(Volatile.Read(ref _state)));
    }

    /// <summary>
    /// The monitor's side: abandons the wait if it is in progress and its operation was sent before
    /// <paramref name="epoch"/>.
    /// </summary>
    public bool TryAbandonBefore(int epoch) => TryAbandon(Volatile.Read(ref _state), epoch);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token)
    {
        var phase = Phase(Current(token));
        return phase switch
        {
            Claimed => _operation!.IsCompleted ? ValueTaskSourceStatus.Succeeded : ValueTaskSourceStatus.Pending,
            Waiting => ValueTaskSourceStatus.Pending,
            _ => ValueTaskSourceStatus.Succeeded,
        };
    }

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        var s = Current(token);
        if (Phase(s) != Claimed)
            throw new InvalidOperationException("A wait on a backend is awaited once.");
        var operation = _operation!;
        var giveUp = _giveUp;
        _continuation = continuation;
        _continuationState = state;
        _executionContext = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
        if (giveUp.CanBeCanceled)
            _registration = giveUp.UnsafeRegister(OnGiveUp, this); // before Waiting: the result may be taken at once after it
        // A full fence between this write and the epoch read below; the monitor fences between moving the epoch and
        // reading this word. So either it finds this wait, or this wait finds the new epoch (or both: one CAS wins).
        var waiting = (s & ~PhaseMask) | Waiting;
        Interlocked.Exchange(ref _state, waiting);
        if (unchecked(_owner!.Epoch - _sentInEpoch) > 0 || giveUp.IsCancellationRequested)
            TryAbandon(waiting, epoch: null);
        operation.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onOperationEnded);
    }

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        var s = Current(token);
        _registration.Dispose(); // waits for a give-up callback that is running now; none can start after it
        _registration = default;
        switch (Phase(s))
        {
            case Claimed or Finished:
                Release(s);
                return true;
            case Abandoned:
                if (Interlocked.CompareExchange(ref _state, (s & ~PhaseMask) | AbandonedResultTaken, s) != s)
                    Release(Volatile.Read(ref _state)); // the operation ended in between
                return false;
            case AbandonedOperationEnded:
                Release(s);
                return false;
            default:
                throw new InvalidOperationException("A wait on a backend was read before it completed.");
        }
    }

    private void OnOperationEnded()
    {
        while (true)
        {
            var s = Volatile.Read(ref _state);
            switch (Phase(s))
            {
                case Waiting:
                    var continuation = _continuation!;
                    var state = _continuationState;
                    var context = _executionContext;
                    if (Interlocked.CompareExchange(ref _state, (s & ~PhaseMask) | Finished, s) != s)
                        continue;
                    if (context is null)
                        continuation(state);
                    else
                        RunIn(context, continuation, state);
                    return;
                case Abandoned:
                    if (Interlocked.CompareExchange(ref _state, (s & ~PhaseMask) | AbandonedOperationEnded, s) != s)
                        continue;
                    return;
                case AbandonedResultTaken:
                    Release(s);
                    return;
                default:
                    return; // not this use's completion (cannot happen: each use subscribes once)
            }
        }
    }

    private void TryAbandonCurrent() => TryAbandon(Volatile.Read(ref _state), epoch: null);

    // Abandons the use s if it still waits. epoch null: whatever it waits for (the caller's own check, the give-up
    // token); else only if its operation was sent before that epoch (the monitor).
    private bool TryAbandon(long s, int? epoch)
    {
        if (Phase(s) != Waiting)
            return false;
        if (epoch is { } e && unchecked(e - Volatile.Read(ref _sentInEpoch)) <= 0)
            return false;
        // Read before the CAS: a successful CAS proves they belong to the use that was waiting.
        var continuation = _continuation!;
        var state = _continuationState;
        var context = _executionContext;
        if (Interlocked.CompareExchange(ref _state, (s & ~PhaseMask) | Abandoned, s) != s)
            return false;
        // Never on the monitor's loop, nor inside a cancellation callback: the caller goes on to abandon, retry or throw.
        if (context is null)
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: false);
        else
            ThreadPool.UnsafeQueueUserWorkItem(static x => RunIn(x.context, x.continuation, x.state), (continuation, state, context), preferLocal: false);
        return true;
    }

    // Only for an awaiter that asked for its execution context to flow (the library's own awaits never do). A method
    // of its own: a closure in the caller would be allocated on every call, flowing or not.
    private static void RunIn(ExecutionContext context, Action<object?> continuation, object? state)
        => ExecutionContext.Run(context, static x => ((Action)x!)(), (Action)(() => continuation(state)));

    private void Release(long s)
    {
        _operation = null;
        _giveUp = default;
        _continuation = null;
        _continuationState = null;
        _executionContext = null;
        Volatile.Write(ref _state, s & ~PhaseMask); // Free, same version: the next claim moves it on
    }

    private long Current(short token)
    {
        var s = Volatile.Read(ref _state);
        if (Token(s) != token)
            throw new InvalidOperationException("A wait on a backend was used after it ended.");
        return s;
    }

    private static long Phase(long s) => s & PhaseMask;

    private static long Next(long s) => (((s >> 8) + 1) << 8) | Claimed;

    private static short Token(long s) => unchecked((short)(s >> 8));
}
