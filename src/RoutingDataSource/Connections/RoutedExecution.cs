using System.Data;
using RoutingDataSource.Classification;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Connections;

/// <summary>
/// The one execution loop shared by <see cref="RoutingCommand"/> and <see cref="RoutingBatch"/>: acquire a physical
/// connection for the route, run, give it back (or hand it to the reader), and let <see cref="StatementExecutor"/>
/// decide whether a failure is re-run elsewhere.
/// </summary>
internal static class RoutedExecution
{
    public static async ValueTask<object?> ExecuteAsync<TStatement>(TStatement statement, RoutingConnection conn, SqlClassification c,
        StatementRoute route, int statementCount, ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
        where TStatement : IRoutedStatement
    {
        var executor = new StatementExecutor(conn, c, route);
        while (true)
        {
            var lease = await conn.AcquireAsync(c, executor.Route, async, cancellationToken, statementCount).ConfigureAwait(false);
            statement.Bind(lease.Connection, conn.PhysicalTransaction);
            try
            {
                await statement.PrepareIfRequestedAsync(async, cancellationToken).ConfigureAwait(false);
                object? result;
                switch (mode)
                {
                    case ExecuteMode.NonQuery:
                        result = await statement.ExecuteNonQueryAsync(async, cancellationToken).ConfigureAwait(false);
                        break;
                    case ExecuteMode.Scalar:
                        result = await statement.ExecuteScalarAsync(async, cancellationToken).ConfigureAwait(false);
                        break;
                    default:
                        // CloseConnection applies to the logical connection, which the routing reader closes itself.
                        var reader = await statement.ExecuteReaderAsync(behavior & ~CommandBehavior.CloseConnection, async, cancellationToken).ConfigureAwait(false);
                        statement.Reader.Init(reader, conn, lease, c, executor.Route, behavior);
                        return statement.Reader;
                }
                conn.AfterStatement(c, executor.Route);
                conn.Release(lease);
                return result;
            }
            catch (Exception e)
            {
                conn.Release(lease);
                if (!executor.ShouldRetry(e, lease))
                    throw;
            }
        }
    }
}
