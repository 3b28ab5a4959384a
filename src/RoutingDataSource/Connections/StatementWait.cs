using System.Threading.Tasks.Sources;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Topology;

/// <summary>
/// Waits for a driver operation to finish or for its backend to be taken out of service, whichever comes first,
/// without allocating and without touching shared state per statement: the objects are pooled per backend, each stays
/// registered on the backend's abort token while it sits in the pool, the awaited <see cref="ValueTask"/> is backed by
/// the object and the task continuation is a cached delegate.
/// </summary>
/// <remarks>
/// Npgsql is never asked to cancel on an abort (its cancel request waits for the hung server); the caller stops
/// waiting and abandons the physical connection instead. An object whose abort fired first is not reused: the driver
/// task's continuation still points at it. A registration per statement would take the token source's lock twice per
/// statement, a lock every statement on the backend shares.
/// </remarks>
internal sealed class StatementWait : IValueTaskSource
{
    // _state: 0 until the first wait, then Waiting during one and its outcome after it (no signal leaves an outcome).
    private const int Waiting = 1;
    private const int Done = 2;
    private const int Aborted = 3;

    private static readonly Action<object?> OnAbort = static s => ((StatementWait)s!).Signal(Aborted);

    private readonly ObjectSlots<StatementWait> _pool;
    private readonly Action _onOperationDone;
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationToken _registeredOn;
    private CancellationTokenRegistration _registration;
    private int _state;

    private StatementWait(ObjectSlots<StatementWait> pool)
    {
        _pool = pool;
        _onOperationDone = () => Signal(Done);
    }

    /// <summary>
    /// A wait object from the backend's pool. Use: <c>await wait.Until(operation, backend.AbortToken); wait.Finish();</c>.
    /// </summary>
    public static StatementWait Rent(Backend backend) => backend.Waits.Rent() ?? new StatementWait(backend.Waits);

    /// <summary>
    /// Completes when <paramref name="operation"/> has finished or <paramref name="abort"/> has fired. Afterwards call
    /// <see cref="Finish"/>, then look at <c>operation.IsCompleted</c>: false means the backend was taken out of service
    /// and the operation must be abandoned.
    /// </summary>
    public ValueTask Until(Task operation, CancellationToken abort)
    {
        if (_registeredOn != abort)
        {
            // New, or the backend's token was replaced after an abort. Disposing the old registration waits for its
            // callback if that is running right now, so no callback of the old token can reach the wait below.
            _registration.Dispose();
            _registration = abort.UnsafeRegister(OnAbort, this);
            _registeredOn = abort;
        }
        _core.Reset();
        // A full fence between this write and the read below: an abort that fired before the wait began is seen by
        // the read; one that fires after finds the wait in place.
        Interlocked.Exchange(ref _state, Waiting);
        if (abort.IsCancellationRequested)
            Signal(Aborted);
        operation.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onOperationDone);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>
    /// Waits until <paramref name="operation"/> finishes or <paramref name="backend"/> is taken out of service; false
    /// means the latter came first and the operation must be abandoned. The statement path inlines the same three
    /// calls to keep one async layer fewer per statement.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> FinishesAsync(Task operation, Backend backend)
    {
        if (operation.IsCompleted)
            return true;
        var wait = Rent(backend);
        await wait.Until(operation, backend.AbortToken).ConfigureAwait(false);
        wait.Finish();
        return operation.IsCompleted;
    }

    /// <summary>Ends the wait; the object goes back to its pool unless the abort fired first.</summary>
    public void Finish()
    {
        if (Volatile.Read(ref _state) != Done)
            return;
        if (!_pool.Return(this))
        {
            // Not kept: it must not stay registered on a token that lives as long as the backend.
            _registration.Dispose();
            _registration = default;
        }
    }

    private void Signal(int outcome)
    {
        if (Interlocked.CompareExchange(ref _state, outcome, Waiting) == Waiting)
            _core.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
