using System.Data;
using System.Runtime.CompilerServices;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Connections;

/// <summary>
/// The one execution path shared by <see cref="RoutingCommand"/> and <see cref="RoutingBatch"/>: acquire a physical
/// connection for the route, run, give it back (or hand it to the reader). A failure goes through
/// <see cref="FailureTranslator"/>; what it calls safe is re-run (at once for a 25006 reroute, else through the
/// failover retry pipeline), everything else reaches the caller.
/// </summary>
/// <remarks>
/// Generic in the result (<c>int</c>, <c>object?</c> or the reader type) so that each ADO.NET method turns the one
/// <see cref="ValueTask{TResult}"/> into the <see cref="Task{TResult}"/> it returns directly, with no second async
/// method to unwrap or cast the result.
/// </remarks>
internal static class RoutedExecution
{
    /// <summary>Runs the statement; a failure the translator calls safe to re-run is re-run (see the class summary).</summary>
    public static ValueTask<TResult> ExecuteAsync<TResult>(IRoutedStatement statement, RoutingConnection conn, SqlClassification c,
        StatementRoute route, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        if (conn.RefinesRoute(c))
            (c, route) = conn.Refine(c, route, statementCount);
        return route.AwaitsFunctionLookup && !conn.DataSourceInternal.Volatility.IsPreloaded
            ? AfterPreloadAsync<TResult>(statement, conn, statementCount, mode, behavior, async, cancellationToken)
            : AttemptAsync<TResult>(statement, conn, c, route, statementCount, mode, behavior, async, firstAttempt: true, cancellationToken);
    }

    // Start-up only: until the one-time load of every function's volatility is in, a read calling an ordinary
    // built-in would go to the primary. Wait for it (bounded by HealthCheckTimeout), then plan the statement again.
    private static async ValueTask<TResult> AfterPreloadAsync<TResult>(IRoutedStatement statement, RoutingConnection conn, int statementCount,
        ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        var ds = conn.DataSourceInternal;
        try
        {
            await ds.Volatility.Preloaded.WaitAsync(ds.Options.HealthCheckTimeout, ds.Time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Go on: the statement simply stays on the primary.
        }
        var (c, route) = statement.Plan(conn);
        if (conn.RefinesRoute(c))
            (c, route) = conn.Refine(c, route, statementCount);
        return await AttemptAsync<TResult>(statement, conn, c, route, statementCount, mode, behavior, async, firstAttempt: true, cancellationToken).ConfigureAwait(false);
    }

    // Reached only from a first attempt's failure, so that the closure the retry pipeline needs is allocated only then.
    private static async ValueTask<TResult> RetryAsync<TResult>(RetryableFailure first, IRoutedStatement statement, RoutingConnection conn,
        SqlClassification c, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        if (first.Immediate)
        {
            try
            {
                return await AttemptAsync<TResult>(statement, conn, c, first.Route, statementCount, mode, behavior, async, firstAttempt: false, cancellationToken).ConfigureAwait(false);
            }
            catch (RetryableFailure again)
            {
                first = again;
            }
        }
        conn.DataSourceInternal.Failover.Count(first.Backend);
        return await conn.DataSourceInternal.Failover.RunAsync(first.Route,
            (r, ct) => AttemptAsync<TResult>(statement, conn, c, r, statementCount, mode, behavior, async, firstAttempt: false, ct), cancellationToken).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    // The one async layer of a routed statement. Its state machine is pooled: an async ADO.NET call then allocates only
    // the small task that wraps it. Returning the state machine's own box as that task instead measured about 100 B
    // more per call and no less CPU (2026-11-22). A first attempt that fails safely goes on to the retries from its
    // catch block.
    private static async ValueTask<TResult> AttemptAsync<TResult>(IRoutedStatement statement, RoutingConnection conn, SqlClassification c,
        StatementRoute route, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, bool firstAttempt, CancellationToken cancellationToken)
    {
        Lease lease;
        try
        {
            var mayCarry = conn.HasSessionState && CarriesState(mode, behavior) && statement.CanGuard;
            lease = await conn.AcquireAsync(c, route, async, cancellationToken, statementCount, statement, mayCarryState: mayCarry,
                mayCarryIntoWrite: mayCarry && mode != ExecuteMode.Reader && statement.CanCarryStateIntoWrite(c)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RoutingException && !cancellationToken.IsCancellationRequested)
        {
            var translated = FailureTranslator.BeforeSend(e, conn, route, conn.LastAcquireBackend);
            if (firstAttempt && translated is RetryableFailure retry)
                return await RetryAsync<TResult>(retry, statement, conn, c, statementCount, mode, behavior, async, cancellationToken).ConfigureAwait(false);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }

        statement.Bind(lease.Connection, conn.PhysicalTransaction);
        var abandoned = false;
        // Read-your-writes: a read on a standby not known to have replayed the session's writes runs behind a guard;
        // a write outside a transaction reads its commit position in its own round trip.
        var guard = conn.TakeReadGuard(lease);
        // Session state the held session lacks goes in front of the statement in the same round trip: after the guard
        // in front of a read, in the positioned batch in front of a write.
        var carried = conn.TakeCarriedState(lease);
        var prefixed = guard.Lsn != 0 || (carried.Sql is not null && !carried.IntoWrite);
        if (prefixed)
            statement.Guard(Prefix(guard, carried.Sql));
        var positioned = guard.Lsn == 0 && mode != ExecuteMode.Reader && conn.WantsCommitPosition(c, route, lease)
            ? statement.Positioned(lease.Connection, c.StatementCount, carried.IntoWrite ? ReadGuard.StateBeforeWrite(carried.Sql!) : null) : null;
        using var activity = RoutingActivity.Start(conn, lease, route);
        try
        {
            if (carried.IntoWrite && positioned is null)
                await conn.RunCarriedAloneAsync(lease, carried, async, cancellationToken).ConfigureAwait(false);
            await statement.PrepareIfRequestedAsync(async, cancellationToken).ConfigureAwait(false);
            // CloseConnection applies to the logical connection, which the routing reader closes itself.
            var physicalBehavior = behavior & ~CommandBehavior.CloseConnection;
            Task? operation = null;
            if (async)
            {
                // Before the send: the statement belongs to the backend's current time in service.
                var inFlight = lease.Backend.InFlight;
                var epoch = inFlight.Epoch;
                operation = positioned is not null
                    ? CommitPosition.RunAsync(positioned, mode == ExecuteMode.Scalar, async: true, cancellationToken)
                    : mode switch
                    {
                        ExecuteMode.NonQuery => statement.ExecuteNonQueryAsync(cancellationToken),
                        ExecuteMode.Scalar => statement.ExecuteScalarAsync(cancellationToken),
                        _ => statement.ExecuteReaderAsync(physicalBehavior, cancellationToken),
                    };
                // The monitor abandons the wait when it takes the backend out of service. Npgsql is never asked to
                // cancel (its cancel waits for the server to close the cancel socket, which a hung server never does):
                // the caller stops waiting instead and the physical connection is abandoned.
                if (!operation.IsCompleted && !await inFlight.FinishesAsync(operation, epoch).ConfigureAwait(false))
                {
                    abandoned = true;
                    conn.Abandon(lease, operation);
                    statement.ReplaceAbandoned();
                    throw new BackendOutOfServiceException("The backend was taken out of service while the statement ran.");
                }
            }
            TResult result;
            ulong commitLsn = 0;
            if (positioned is not null)
            {
                var done = operation is null
                    ? CommitPosition.RunAsync(positioned, mode == ExecuteMode.Scalar, async: false, cancellationToken).GetAwaiter().GetResult()
                    : ((Task<Positioned>)operation).GetAwaiter().GetResult();
                statement.Unposition();
                positioned = null;
                commitLsn = done.Lsn;
                result = mode == ExecuteMode.NonQuery ? (TResult)(object)done.Rows : (TResult)done.Scalar!;
            }
            else
            {
                switch (mode)
                {
                    case ExecuteMode.NonQuery:
                        // TResult is int here: the JIT drops the box and unbox of this cast.
                        result = (TResult)(object)(operation is null ? statement.ExecuteNonQuery() : ((Task<int>)operation).GetAwaiter().GetResult());
                        break;
                    case ExecuteMode.Scalar:
                        result = (TResult)(operation is null ? statement.ExecuteScalar() : ((Task<object?>)operation).GetAwaiter().GetResult())!;
                        break;
                    default:
                        var reader = operation is null ? statement.ExecuteReader(physicalBehavior) : ((Task<NpgsqlDataReader>)operation).GetAwaiter().GetResult();
                        if (guard.Lsn != 0)
                            conn.GuardPassed(lease, guard);
                        // The guard text stays before the statement until the reader is closed (Npgsql keeps it while
                        // reading); carried state counts as held once the reader has read its results without a failure.
                        statement.Reader.Init(reader, conn, lease, c, route, behavior, statement, guarded: prefixed, carriedVersion: carried.Version);
                        return (TResult)(object)statement.Reader;
                }
            }
            if (prefixed)
                statement.Unguard();
            if (guard.Lsn != 0)
                conn.GuardPassed(lease, guard);
            if (carried.Sql is not null)
                conn.CarriedStateRan(lease.Connection, carried.Version);
            // Looked at before the release: once back in the pool the connection object may be another caller's.
            var cutShort = route.Kind != StatementKind.Read && lease.Backend.CommitWarnings.TakeCutShort(lease.Connection);
            conn.AfterStatement(c, route, commitLsn, lease.Connection);
            conn.Release(lease);
            if (cutShort)
                throw FailureTranslator.CommitNotAcknowledged(conn, lease.Backend.Name);
            return result;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            RoutingActivity.Fail(activity, e);
            Restore(statement, prefixed, positioned is not null && !abandoned);
            // Translate before releasing: whether the physical connection survived tells a slow server from a lost one.
            // State carried in front of a write: a failure of the state is told as the primary session refusing it,
            // one of the write is the write's own (both were undone; the state rides again with the next statement).
            var translated = carried.IntoWrite
                ? e is PostgresException { SqlState: ReadGuard.StateFailedState } pe ? conn.StateFailedOnPrimary(lease, pe) : FailureTranslator.AfterSend(e, conn, lease, route)
                : guard.Lsn != 0 && ReadGuard.IsMiss(e)
                ? conn.GuardMissed(lease, guard, route, statementCount, e)
                : carried.Sql is not null && e is PostgresException && lease.Connection.State == ConnectionState.Open
                    ? conn.CarriedStateFailed(lease, route, statementCount, e)
                    : route.SetsStateOnStandby && e is PostgresException
                        && lease.Connection.State == ConnectionState.Open && !conn.IsOnPrimary(lease)
                        ? conn.StateRefusedByStandby(lease, route, statementCount, e)
                        : FailureTranslator.AfterSend(e, conn, lease, route);
            if (translated is RetryableFailure && e is PostgresException { SqlState: PostgresErrorCodes.FeatureNotSupported })
                conn.DataSourceInternal.Unlogged.RequestReload(); // a relation made unlogged after the last load
            if (c.EndsTransaction && !abandoned)
                conn.PreparedTransactionFailed(c, route);
            if (!abandoned)
                conn.Release(lease);
            if (firstAttempt && translated is RetryableFailure retry)
            {
                activity?.Dispose(); // the failed attempt's span ends here; the re-runs get their own
                return await RetryAsync<TResult>(retry, statement, conn, c, statementCount, mode, behavior, async, cancellationToken).ConfigureAwait(false);
            }
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }
        catch
        {
            Restore(statement, prefixed, positioned is not null && !abandoned);
            if (!abandoned)
                conn.Release(lease);
            throw;
        }
    }

    // Carried state needs the whole result to have been read to count as held: only the behaviours that read it all.
    private static bool CarriesState(ExecuteMode mode, CommandBehavior behavior)
        => mode != ExecuteMode.Reader || (behavior & ~(CommandBehavior.SequentialAccess | CommandBehavior.CloseConnection)) == 0;

    // One statement: the guard's check first (when it fails, nothing after it ran), then the carried state.
    private static string Prefix(in ReadGuardTicket guard, string? carried)
        => guard.Lsn == 0 ? ReadGuard.StateOnly(carried!) : ReadGuard.Sql(guard, carried);

    private static void Restore(IRoutedStatement statement, bool guarded, bool positioned)
    {
        if (guarded)
            statement.Unguard();
        if (positioned)
            statement.Unposition();
    }
}
