using System.Diagnostics;
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

    /// <inheritdoc />
    protected override void OnFirstExecution()
    {
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
