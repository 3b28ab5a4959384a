using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using RoutingDataSource.Resilience;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// The execution strategy <c>UseRoutingDataSource</c> sets: an operation (a query, <c>SaveChanges</c>, or a unit of
/// work given to <c>Database.CreateExecutionStrategy().ExecuteAsync(...)</c>) that failed because its server went away
/// or changed role, because no primary was there yet, or on a serialization failure or deadlock, is run again, with
/// backoff, for up to <see cref="RoutingOptions.FailoverTimeout"/>; it then runs on the new primary. It is never run
/// again when the failure hit a COMMIT (the transaction may have committed; a COMMIT the server refused with a
/// serialization failure or deadlock committed nothing and is run again) or a write whose outcome is unknown
/// (<see cref="RoutingException.MayHaveCommitted"/>): that failure reaches the caller. As with EF's own retrying
/// strategies, a transaction begun by the application must be inside the strategy's <c>ExecuteAsync</c>.
/// A query outside such a unit of work is not buffered by EF (as it is under EF's own retrying strategies): the
/// library already re-runs a read that fails before its first row, on another server; one that fails after its rows
/// began to arrive reaches the caller, as it would with ADO.NET.
/// </summary>
public sealed class RoutingExecutionStrategy : ExecutionStrategy
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1);
    private readonly RoutingSession? _session; // the context's, for the strategy's life (EF makes one per context, or per call)
    private IDbContextTransactionManager? _transactions;
    private long _firstFailure;
    private bool _checkingTransaction;
    private bool _continuing;

    /// <summary>Creates the strategy for a context (EF calls this through the provider's <c>ExecutionStrategy(...)</c> option).</summary>
    public RoutingExecutionStrategy(ExecutionStrategyDependencies dependencies)
        : this(dependencies, RoutingSession.Of(dependencies.CurrentContext.Context))
    {
    }

    private RoutingExecutionStrategy(ExecutionStrategyDependencies dependencies, RoutingSession? session)
        : base(dependencies, RetriesWithin(session), MaxDelay)
    {
        _session = session;
    }

    // How many retries the backoff fits into FailoverTimeout (what EF reports when they run out); GetNextDelay stops
    // at the timeout itself.
    private static int RetriesWithin(RoutingSession? session)
    {
        var timeout = session?.DataSource.Options.FailoverTimeout ?? TimeSpan.Zero;
        var (retries, waited) = (0, TimeSpan.Zero);
        while (waited < timeout)
        {
            var delay = FirstDelay * Math.Pow(2, Math.Min(retries, 10));
            waited += delay < MaxDelay ? delay : MaxDelay;
            retries++;
        }
        return Math.Max(1, retries);
    }

    private RoutingSession? Session => _session;

    /// <summary>
    /// True while this strategy runs an operation (SaveChanges, a unit of work given to <c>ExecuteAsync</c>): EF then
    /// buffers the queries in it, since the whole operation may run again. EF reads it with no operation running for
    /// two more things: whether to buffer a query, which it need not (see the class summary); and whether migrations
    /// that suppress their transaction may run, which must stay refused, so it is true while migrations run.
    /// </summary>
    public override bool RetriesOnFailure
        => _checkingTransaction || (Current is null ? Session is { OpensContextConnection: true } : ReferenceEquals(Current, this));

    /// <summary>
    /// Runs <paramref name="operation"/> as EF's strategy does. The first attempt of an operation that is not nested
    /// in another (a query, SaveChanges, a unit of work) takes a short path without EF's per-operation wrappers; after
    /// a failure EF may retry, it waits as EF would and hands the operation to EF's own loop, which goes on from there
    /// (the first failure counted).
    /// </summary>
    public override TResult Execute<TState, TResult>(TState state, Func<DbContext, TState, TResult> operation,
        Func<DbContext, TState, ExecutionResult<TResult>>? verifySucceeded)
    {
        if (Current is not null || verifySucceeded is not null || _continuing)
            return base.Execute(state, operation, verifySucceeded);
        OnFirstExecution();
        var unit = !Operation<TState>.IsQueryReader;
        TResult result;
        try
        {
            if (unit)
                Current = this;
            result = operation(Dependencies.CurrentContext.Context, state);
        }
        catch (Exception e)
        {
            if (unit)
                Current = null;
            if (FirstFailure(e, async: false) is not { } delay)
                throw;
            Thread.Sleep(delay);
            return Continue(() => base.Execute(state, operation, verifySucceeded));
        }
        if (unit)
            Current = null;
        return result;
    }

    /// <inheritdoc cref="Execute{TState, TResult}"/>
    public override async Task<TResult> ExecuteAsync<TState, TResult>(TState state, Func<DbContext, TState, CancellationToken, Task<TResult>> operation,
        Func<DbContext, TState, CancellationToken, Task<ExecutionResult<TResult>>>? verifySucceeded, CancellationToken cancellationToken = default)
    {
        if (Current is not null || verifySucceeded is not null || _continuing)
            return await base.ExecuteAsync(state, operation, verifySucceeded, cancellationToken).ConfigureAwait(false);
        OnFirstExecution();
        cancellationToken.ThrowIfCancellationRequested();
        var unit = !Operation<TState>.IsQueryReader;
        TResult result;
        try
        {
            if (unit)
                Current = this;
            result = await operation(Dependencies.CurrentContext.Context, state, cancellationToken).ConfigureAwait(true); // as EF's loop
        }
        catch (Exception e)
        {
            if (unit)
                Current = null;
            if (FirstFailure(e, async: true) is not { } delay)
                throw;
            await Task.Delay(delay, cancellationToken).ConfigureAwait(true);
            return await Continue(() => base.ExecuteAsync(state, operation, verifySucceeded, cancellationToken)).ConfigureAwait(false);
        }
        if (unit)
            Current = null;
        return result;
    }

    // What EF's loop does after a failure, up to its wait: null when the operation must not run again.
    private TimeSpan? FirstFailure(Exception exception, bool async)
    {
        if (!CallOnWrappedException(exception, ShouldRetryOn))
            return null;
        ExceptionsEncountered.Add(exception);
        if (GetNextDelay(exception) is not { } delay)
            return null; // cannot happen on a first failure: the failover timeout counts from it
        Dependencies.Logger.ExecutionStrategyRetrying(ExceptionsEncountered, delay, async);
        OnRetry();
        return delay;
    }

    // Whether an operation is the start of one of EF's query enumerators (it executes the query's command and opens its
    // reader, and nothing else). Its first attempt does not become ExecutionStrategy.Current: nothing in it runs
    // another operation of the strategy or asks whether to buffer (EF decides that when it compiles the query, before),
    // and setting Current, an AsyncLocal, costs every query an execution context of its own. Any other operation
    // (SaveChanges, ExecuteUpdate, a split query's collection, a unit of work) does, as in EF's loop.
    private static class Operation<TState>
    {
        public static readonly bool IsQueryReader = typeof(TState) is { Namespace: "Microsoft.EntityFrameworkCore.Query.Internal", DeclaringType.Name: var name }
            && name.EndsWith("QueryingEnumerable`1", StringComparison.Ordinal);
    }

    // EF's loop takes over the operation's later attempts, with this one's state (no new first execution).
    private T Continue<T>(Func<T> run)
    {
        _continuing = true;
        try
        {
            return run();
        }
        finally
        {
            _continuing = false;
        }
    }

    /// <inheritdoc />
    protected override void OnFirstExecution()
    {
        if (_continuing)
            return; // EF's loop goes on with an operation this strategy began: nothing to check or reset
        if (NoTransaction())
        {
            ExceptionsEncountered.Clear(); // all EF's check would do: it finds no transaction
        }
        else
        {
            // EF's own check that no transaction of the application's is open (it reads RetriesOnFailure, false here
            // before the operation starts), and its error.
            _checkingTransaction = true;
            try
            {
                base.OnFirstExecution();
            }
            finally
            {
                _checkingTransaction = false;
            }
        }
        _firstFailure = 0;
        if (Session is { } s)
            s.CommitFailed = false;
    }

    // What EF's check looks at (the context's transaction, an enlisted and an ambient one), read without resolving
    // services on every operation: the context's transaction manager is found once.
    private bool NoTransaction()
    {
        var manager = _transactions ??= ((IDatabaseFacadeDependenciesAccessor)Dependencies.CurrentContext.Context.Database).Dependencies.TransactionManager;
        return manager.CurrentTransaction is null
            && manager is ITransactionEnlistmentManager { EnlistedTransaction: null, CurrentAmbientTransaction: null };
    }

    /// <inheritdoc />
    protected override bool ShouldRetryOn(Exception exception)
    {
        if (Session is not { } s)
            return false;
        if (s.CommitFailed)
        {
            s.CommitFailed = false;
            return false;
        }
        return UnitOfWork.MayRerun(exception) || exception.InnerException is { } inner && inner is not RoutingException && UnitOfWork.MayRerun(inner);
    }

    /// <inheritdoc />
    protected override TimeSpan? GetNextDelay(Exception lastException)
    {
        if (Session is not { } s)
            return null;
        var now = Stopwatch.GetTimestamp();
        if (_firstFailure == 0)
            _firstFailure = now;
        if (Stopwatch.GetElapsedTime(_firstFailure, now) > s.DataSource.Options.FailoverTimeout)
            return null;
        var retries = Math.Min(ExceptionsEncountered.Count - 1, 10);
        var delay = FirstDelay * Math.Pow(2, retries) * (1 + (Random.NextDouble() * 0.2));
        return delay < MaxDelay ? delay : MaxDelay;
    }
}
