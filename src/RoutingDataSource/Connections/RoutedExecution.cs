using System.Data;
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
internal static class RoutedExecution
{
    public static async ValueTask<object?> ExecuteAsync<TStatement>(TStatement statement, RoutingConnection conn, SqlClassification c,
        StatementRoute route, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
        where TStatement : IRoutedStatement
    {
        try
        {
            return await AttemptAsync(statement, conn, c, route, statementCount, mode, behavior, async, cancellationToken).ConfigureAwait(false);
        }
        catch (RetryableFailure first)
        {
            if (first.Immediate)
            {
                try
                {
                    return await AttemptAsync(statement, conn, c, first.Route, statementCount, mode, behavior, async, cancellationToken).ConfigureAwait(false);
                }
                catch (RetryableFailure again)
                {
                    first = again;
                }
            }
            conn.DataSourceInternal.Failover.Count(first.Backend);
            return await conn.DataSourceInternal.Failover.RunAsync(first.Route,
                (r, ct) => AttemptAsync(statement, conn, c, r, statementCount, mode, behavior, async, ct), cancellationToken).ConfigureAwait(false);
        }
    }

    private static async ValueTask<object?> AttemptAsync<TStatement>(TStatement statement, RoutingConnection conn, SqlClassification c,
        StatementRoute route, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
        where TStatement : IRoutedStatement
    {
        Lease lease;
        try
        {
            lease = await conn.AcquireAsync(c, route, async, cancellationToken, statementCount).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RoutingException && !cancellationToken.IsCancellationRequested)
        {
            var translated = FailureTranslator.BeforeSend(e, conn, route, conn.LastAcquireBackend);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }

        statement.Bind(lease.Connection, conn.PhysicalTransaction);
        // The monitor trips this token when it takes the backend out of service. It is never handed to Npgsql:
        // Npgsql cancels by sending a cancel request and waiting for the server to close that socket, which a hung
        // server never does. Instead the caller stops waiting and the physical connection is abandoned.
        var abort = lease.Backend.AbortToken;
        var abandoned = false;
        using var activity = RoutingActivity.Start(lease.Backend, conn.IsOnPrimary(lease), route);
        try
        {
            await statement.PrepareIfRequestedAsync(async, cancellationToken).ConfigureAwait(false);
            object? result;
            switch (mode)
            {
                case ExecuteMode.NonQuery:
                    result = async ? await Guard(statement.ExecuteNonQueryAsync(cancellationToken)).ConfigureAwait(false) : statement.ExecuteNonQuery();
                    break;
                case ExecuteMode.Scalar:
                    result = async ? await Guard(statement.ExecuteScalarAsync(cancellationToken)).ConfigureAwait(false) : statement.ExecuteScalar();
                    break;
                default:
                    // CloseConnection applies to the logical connection, which the routing reader closes itself.
                    var physicalBehavior = behavior & ~CommandBehavior.CloseConnection;
                    var reader = async
                        ? await Guard(statement.ExecuteReaderAsync(physicalBehavior, cancellationToken)).ConfigureAwait(false)
                        : statement.ExecuteReader(physicalBehavior);
                    statement.Reader.Init(reader, conn, lease, c, route, behavior);
                    return statement.Reader;
            }
            conn.AfterStatement(c, route);
            conn.Release(lease);
            return result;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            RoutingActivity.Fail(activity, e);
            // Translate before releasing: whether the physical connection survived tells a slow server from a lost one.
            var translated = FailureTranslator.AfterSend(e, conn, lease, route);
            if (!abandoned)
                conn.Release(lease);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }
        catch
        {
            if (!abandoned)
                conn.Release(lease);
            throw;
        }

        Task<T> Guard<T>(Task<T> task)
        {
            if (task.IsCompleted || !abort.CanBeCanceled)
                return task;
            return GuardSlow(task);
        }

        async Task<T> GuardSlow<T>(Task<T> task)
        {
            try
            {
                return await task.WaitAsync(abort).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested && !task.IsCompleted)
            {
                abandoned = true;
                conn.Abandon(lease, task);
                throw;
            }
        }
    }
}
