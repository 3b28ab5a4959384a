using System.Threading.Tasks.Sources;

namespace RoutingDataSource.Connections;

/// <summary>
/// Waits for a driver operation to finish or for its backend to be taken out of service, whichever comes first,
/// without allocating: the object is pooled, the awaited <see cref="ValueTask"/> is backed by it, the task
/// continuation is a cached delegate and the abort registration reuses the token source's nodes.
/// </summary>
/// <remarks>
/// Npgsql is never asked to cancel on an abort (its cancel request waits for the hung server); the caller stops
/// waiting and abandons the physical connection instead. An object whose abort fired first is not reused: the driver
/// task's continuation still points at it.
/// </remarks>
internal sealed class StatementWait : IValueTaskSource
{
    private static readonly ObjectSlots<StatementWait> Pool = new(Math.Max(16, Environment.ProcessorCount * 16));
    private static readonly Action<object?> OnAbort = static s => ((StatementWait)s!).Signal(aborted: true);

    private readonly Action _onOperationDone;
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private int _signalled; // 0 waiting, 1 the operation finished, 2 the abort fired

    private StatementWait() => _onOperationDone = () => Signal(aborted: false);

    /// <summary>A wait object (pooled). Use: <c>await wait.Until(operation, abort); wait.Finish();</c>.</summary>
    public static StatementWait Rent() => Pool.Rent() ?? new StatementWait();

    /// <summary>
    /// Completes when <paramref name="operation"/> has finished or <paramref name="abort"/> has fired. Afterwards call
    /// <see cref="Finish"/>, then look at <c>operation.IsCompleted</c>: false means the backend was taken out of service
    /// and the operation must be abandoned.
    /// </summary>
    public ValueTask Until(Task operation, CancellationToken abort)
    {
        _core.Reset();
        _signalled = 0;
        _registration = abort.UnsafeRegister(OnAbort, this);
        operation.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onOperationDone);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>Ends the wait; the object goes back to the pool unless the abort fired first.</summary>
    public void Finish()
    {
        // Dispose waits for an abort callback already running, so afterwards nothing but the operation's own
        // continuation can still touch this object, and that one has run when the operation won.
        _registration.Dispose();
        _registration = default;
        if (Volatile.Read(ref _signalled) == 1)
            Pool.Return(this);
    }

    private void Signal(bool aborted)
    {
        if (Interlocked.CompareExchange(ref _signalled, aborted ? 2 : 1, 0) == 0)
            _core.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
