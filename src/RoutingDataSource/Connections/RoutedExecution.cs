using System.Data;
using RoutingDataSource.Classification;
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
            first.Backend?.CountRetry();
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
        catch (Exception e) when (e is not RoutingException and not OperationCanceledException || conn.LastAcquireBackend?.AbortToken.IsCancellationRequested == true)
        {
            var translated = FailureTranslator.BeforeSend(e, conn, route, conn.LastAcquireBackend);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }

        statement.Bind(lease.Connection, conn.PhysicalTransaction);
        // The monitor aborts statements on a backend it takes out of service. Linking allocates, so it is done only
        // when the caller's token can itself be cancelled.
        var abort = lease.Backend.AbortToken;
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, abort) : null;
        var token = linked?.Token ?? abort;
        try
        {
            await statement.PrepareIfRequestedAsync(async, token).ConfigureAwait(false);
            object? result;
            switch (mode)
            {
                case ExecuteMode.NonQuery:
                    result = await statement.ExecuteNonQueryAsync(async, token).ConfigureAwait(false);
                    break;
                case ExecuteMode.Scalar:
                    result = await statement.ExecuteScalarAsync(async, token).ConfigureAwait(false);
                    break;
                default:
                    // CloseConnection applies to the logical connection, which the routing reader closes itself.
                    var reader = await statement.ExecuteReaderAsync(behavior & ~CommandBehavior.CloseConnection, async, token).ConfigureAwait(false);
                    statement.Reader.Init(reader, conn, lease, c, route, behavior);
                    return statement.Reader;
            }
            conn.AfterStatement(c, route);
            conn.Release(lease);
            return result;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Translate before releasing: whether the physical connection survived tells a slow server from a lost one.
            var translated = FailureTranslator.AfterSend(e, conn, lease, route);
            conn.Release(lease);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }
        catch
        {
            conn.Release(lease);
            throw;
        }
    }
}
