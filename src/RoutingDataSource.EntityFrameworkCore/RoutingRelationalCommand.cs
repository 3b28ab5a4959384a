using System.Data.Common;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using RoutingDataSource.Connections;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// An EF Core command of a context on <c>UseRoutingDataSource</c>. Outside a transaction, on the context's own
/// connection, it runs through the context's <see cref="RoutingConnection"/>: classified, routed (reads to an eligible
/// standby, the rest to the primary), counted and traced like the library's own statements, with read-your-writes; the
/// provider gets the real <see cref="NpgsqlDataReader"/> it needs. EF's connection is not opened for it, so a context
/// that only reads never holds a primary connection, and a routed statement pays for neither EF's open and close nor
/// an interceptor's event data. EF's command logging, diagnostics and the application's own command interceptors see
/// it as they see EF's own commands (and cost only when one of them listens, as in EF). Anything else (a command in a
/// transaction, on another connection such as the provider's admin connection) runs as EF runs it.
/// </summary>
internal sealed class RoutingRelationalCommand(RelationalCommandBuilderDependencies dependencies, string commandText, string logCommandText,
    IReadOnlyList<IRelationalParameter> parameters) : RelationalCommand(dependencies, commandText, logCommandText, parameters)
{
    private RoutedRelationalDataReader? _reader; // reused, as EF reuses its reader per command
    private (DbContext? Context, RoutingSession? Session) _last; // EF keeps a command per context connection: its session, found once

    public override RelationalDataReader ExecuteReader(RelationalCommandParameterObject parameterObject)
        => Routed(parameterObject) is { } s ? SyncPath.Wait(ReaderAsync(s, parameterObject, async: false, default)) : base.ExecuteReader(parameterObject);

    public override Task<RelationalDataReader> ExecuteReaderAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => Routed(parameterObject) is { } s ? ReaderAsync(s, parameterObject, async: true, cancellationToken) : base.ExecuteReaderAsync(parameterObject, cancellationToken);

    public override int ExecuteNonQuery(RelationalCommandParameterObject parameterObject)
        => Routed(parameterObject) is { } s ? SyncPath.Wait(NonQueryAsync(s, parameterObject, async: false, default)) : base.ExecuteNonQuery(parameterObject);

    public override Task<int> ExecuteNonQueryAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => Routed(parameterObject) is { } s ? NonQueryAsync(s, parameterObject, async: true, cancellationToken) : base.ExecuteNonQueryAsync(parameterObject, cancellationToken);

    public override object? ExecuteScalar(RelationalCommandParameterObject parameterObject)
        => Routed(parameterObject) is { } s ? SyncPath.Wait(ScalarAsync(s, parameterObject, async: false, default)) : base.ExecuteScalar(parameterObject);

    public override Task<object?> ExecuteScalarAsync(RelationalCommandParameterObject parameterObject, CancellationToken cancellationToken = default)
        => Routed(parameterObject) is { } s ? ScalarAsync(s, parameterObject, async: true, cancellationToken) : base.ExecuteScalarAsync(parameterObject, cancellationToken);

    // The session when the command is routed; null when it runs as EF runs it: in a transaction on the context's own
    // connection (then only counted), or on a connection that is not the context's (the provider's admin connection
    // to the maintenance database, a connection the application gave EF), which is left alone.
    private RoutingSession? Routed(RelationalCommandParameterObject p)
    {
        if (!ReferenceEquals(_last.Context, p.Context))
            _last = (p.Context, RoutingSession.Of(p.Context));
        if (_last.Session is not { } s || !ReferenceEquals(p.Connection.DbConnection, s.ContextConnection))
            return null;
        if (p.Connection.CurrentTransaction is null)
            return s;
        s.CountInTransaction(CommandText);
        return null;
    }

    private async Task<RelationalDataReader> ReaderAsync(RoutingSession s, RelationalCommandParameterObject p, bool async, CancellationToken cancellationToken)
    {
        var (connection, logger) = (p.Connection, p.Logger);
        var (start, log, commandId) = Start(logger);
        var command = CreateDbCommand(p, commandId, DbCommandMethod.ExecuteReader);
        var started = Stopwatch.GetTimestamp();
        ExternalCommand? runner = null;
        DbDataReader reader;
        try
        {
            if (log)
            {
                var intercepted = async
                    ? await logger!.CommandReaderExecutingAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource, cancellationToken).ConfigureAwait(false)
                    : logger!.CommandReaderExecuting(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource);
                if (intercepted.HasResult)
                    reader = intercepted.Result;
                else
                    (runner, reader) = await RunReaderAsync(s, command, async, cancellationToken).ConfigureAwait(false);
                var elapsed = Stopwatch.GetElapsedTime(started);
                reader = async
                    ? await logger.CommandReaderExecutedAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, reader, start, elapsed, p.CommandSource, cancellationToken).ConfigureAwait(false)
                    : logger.CommandReaderExecuted(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, reader, start, elapsed, p.CommandSource);
            }
            else
            {
                (runner, reader) = await RunReaderAsync(s, command, async, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            try
            {
                await FailedAsync(p, command, DbCommandMethod.ExecuteReader, commandId, start, started, e, async, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Release(s, runner, command);
            }
            throw;
        }
        if (p.ReaderColumns is { } columns)
        {
            // As EF: the command has executed (and was logged so); a failure while its rows are buffered is no
            // command error, only the query's.
            try
            {
                reader = await BufferAsync(reader, columns, p.DetailedErrorsEnabled, async, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Release(s, runner, command);
                throw;
            }
        }
        var result = _reader ??= new RoutedRelationalDataReader();
        result.Initialize(connection, command, reader, commandId, logger, s, runner);
        return result;
    }

    private Task<int> NonQueryAsync(RoutingSession s, RelationalCommandParameterObject p, bool async, CancellationToken cancellationToken)
        => ValueAsync<int>(s, p, DbCommandMethod.ExecuteNonQuery, async, cancellationToken);

    private Task<object?> ScalarAsync(RoutingSession s, RelationalCommandParameterObject p, bool async, CancellationToken cancellationToken)
        => ValueAsync<object?>(s, p, DbCommandMethod.ExecuteScalar, async, cancellationToken);

    // ExecuteNonQuery (T = int) or ExecuteScalar (T = object?), with EF's events for that method.
    private async Task<T> ValueAsync<T>(RoutingSession s, RelationalCommandParameterObject p, DbCommandMethod method, bool async, CancellationToken cancellationToken)
    {
        var (start, log, commandId) = Start(p.Logger);
        var command = CreateDbCommand(p, commandId, method);
        var mode = method == DbCommandMethod.ExecuteNonQuery ? ExecuteMode.NonQuery : ExecuteMode.Scalar;
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (!log)
                return await RunAsync<T>(s, command, mode, async, cancellationToken).ConfigureAwait(false);
            var (intercepted, value) = await ExecutingAsync<T>(p, command, commandId, start, async, cancellationToken).ConfigureAwait(false);
            var result = intercepted ? value : await RunAsync<T>(s, command, mode, async, cancellationToken).ConfigureAwait(false);
            return await ExecutedAsync(p, command, commandId, result, start, Stopwatch.GetElapsedTime(started), async, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await FailedAsync(p, command, method, commandId, start, started, e, async, cancellationToken).ConfigureAwait(false);
            throw;
        }
        finally
        {
            Dispose(command);
        }
    }

    // EF's NonQueryExecuting / ScalarExecuting event: whether an interceptor suppressed the command, with its result.
    private async ValueTask<(bool Intercepted, T Value)> ExecutingAsync<T>(RelationalCommandParameterObject p, DbCommand command, Guid commandId,
        DateTimeOffset start, bool async, CancellationToken cancellationToken)
    {
        var (connection, logger) = (p.Connection, p.Logger!);
        if (typeof(T) == typeof(int))
        {
            var rows = async
                ? await logger.CommandNonQueryExecutingAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource, cancellationToken).ConfigureAwait(false)
                : logger.CommandNonQueryExecuting(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource);
            return (rows.HasResult, rows.HasResult ? (T)(object)rows.Result : default!);
        }
        var scalar = async
            ? await logger.CommandScalarExecutingAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource, cancellationToken).ConfigureAwait(false)
            : logger.CommandScalarExecuting(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, start, p.CommandSource);
        return (scalar.HasResult, scalar.HasResult ? (T)scalar.Result! : default!);
    }

    // EF's NonQueryExecuted / ScalarExecuted event, which may replace the result.
    private async ValueTask<T> ExecutedAsync<T>(RelationalCommandParameterObject p, DbCommand command, Guid commandId, T result, DateTimeOffset start,
        TimeSpan elapsed, bool async, CancellationToken cancellationToken)
    {
        var (connection, logger) = (p.Connection, p.Logger!);
        if (typeof(T) == typeof(int))
        {
            var rows = (int)(object)result!;
            return (T)(object)(async
                ? await logger.CommandNonQueryExecutedAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, rows, start, elapsed, p.CommandSource, cancellationToken).ConfigureAwait(false)
                : logger.CommandNonQueryExecuted(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, rows, start, elapsed, p.CommandSource));
        }
        return (T)(async
            ? await logger.CommandScalarExecutedAsync(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, result, start, elapsed, p.CommandSource, cancellationToken).ConfigureAwait(false)
            : logger.CommandScalarExecuted(connection, command, LogCommandText, p.Context, commandId, connection.ConnectionId, result, start, elapsed, p.CommandSource))!;
    }

    // As EF: whether anything listens to command execution (logging, diagnostics, an application's interceptor), and a
    // correlation id only then (Guid.NewGuid reads the kernel's random source: a system call per statement).
    private static (DateTimeOffset Start, bool Log, Guid CommandId) Start(IRelationalCommandDiagnosticsLogger? logger)
    {
        if (logger is null)
            return (default, false, default);
        var start = DateTimeOffset.UtcNow;
        var log = logger.ShouldLogCommandExecute(start);
        return (start, log, log || logger.ShouldLogCommandCreate(start) ? Guid.NewGuid() : default);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    private static async ValueTask<(ExternalCommand, DbDataReader)> RunReaderAsync(RoutingSession s, DbCommand command, bool async, CancellationToken cancellationToken)
    {
        var runner = s.Rent(AsNpgsql(command));
        RoutingDataReader routed;
        try
        {
            routed = await runner.ExecuteAsync<RoutingDataReader>(s.Connection, ExecuteMode.Reader, async, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            s.Return(runner);
            throw;
        }
        s.ReaderOpened(runner);
        return (runner, routed.NpgsqlReader!);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    private static async ValueTask<T> RunAsync<T>(RoutingSession s, DbCommand command, ExecuteMode mode, bool async, CancellationToken cancellationToken)
    {
        var runner = s.Rent(AsNpgsql(command));
        try
        {
            return await runner.ExecuteAsync<T>(s.Connection, mode, async, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            s.Return(runner);
        }
    }

    private static NpgsqlCommand AsNpgsql(DbCommand command)
        => command as NpgsqlCommand ?? throw new InvalidOperationException(
            $"An interceptor replaced EF Core's command with a {command.GetType().Name}; a context on UseRoutingDataSource routes only Npgsql commands.");

    // A retrying execution strategy runs the query inside its operation: EF then reads all the rows first, as it does
    // for its own commands.
#pragma warning disable EF1001 // EF's own buffering reader, used as EF uses it after running a command
    private static async ValueTask<DbDataReader> BufferAsync(DbDataReader reader, IReadOnlyList<ReaderColumn?> columns,
        bool detailedErrors, bool async, CancellationToken cancellationToken)
    {
        var buffered = new Microsoft.EntityFrameworkCore.Query.Internal.BufferedDataReader(reader, detailedErrors);
        return async ? await buffered.InitializeAsync(columns, cancellationToken).ConfigureAwait(false) : buffered.Initialize(columns);
    }
#pragma warning restore EF1001

    private async ValueTask FailedAsync(RelationalCommandParameterObject p, DbCommand command, DbCommandMethod method, Guid commandId, DateTimeOffset start,
        long started, Exception exception, bool async, CancellationToken cancellationToken)
    {
        if (p.Logger is not { } logger)
            return;
        var (connection, elapsed) = (p.Connection, Stopwatch.GetElapsedTime(started));
        if (Dependencies.ExceptionDetector.IsCancellation(exception, cancellationToken))
        {
            if (async)
                await logger.CommandCanceledAsync(connection, command, LogCommandText, p.Context, method, commandId, connection.ConnectionId, start, elapsed, p.CommandSource, cancellationToken).ConfigureAwait(false);
            else
                logger.CommandCanceled(connection, command, LogCommandText, p.Context, method, commandId, connection.ConnectionId, start, elapsed, p.CommandSource);
        }
        else if (async)
            await logger.CommandErrorAsync(connection, command, LogCommandText, p.Context, method, commandId, connection.ConnectionId, exception, start, elapsed, p.CommandSource, cancellationToken).ConfigureAwait(false);
        else
            logger.CommandError(connection, command, LogCommandText, p.Context, method, commandId, connection.ConnectionId, exception, start, elapsed, p.CommandSource);
    }

    private static void Release(RoutingSession s, ExternalCommand? runner, DbCommand command)
    {
        try
        {
            if (runner is not null)
                s.ReaderDone(runner, close: true);
        }
        finally
        {
            Dispose(command);
        }
    }

    private static void Dispose(DbCommand command)
    {
        command.Parameters.Clear();
        command.Dispose();
    }
}
