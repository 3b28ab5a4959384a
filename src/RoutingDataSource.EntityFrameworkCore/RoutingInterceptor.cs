using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;
using RoutingDataSource.Connections;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// Where EF Core's statements run. Outside a transaction every command goes through the context's
/// <see cref="RoutingConnection"/>: classified, routed (reads to an eligible standby, the rest to the primary), counted
/// and traced like the library's own, with read-your-writes; the provider gets the real <see cref="NpgsqlDataReader"/>
/// it needs. A transaction runs on the context's own connection, a real one to the primary (or, for a read-only
/// transaction, to one standby), opened only then: a context that only reads never opens a primary connection.
/// </summary>
internal sealed class RoutingInterceptor : DbCommandInterceptor, IDbConnectionInterceptor, IDbTransactionInterceptor
{
    public static readonly RoutingInterceptor Instance = new();

    // ---- commands ----

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<DbDataReader>.SuppressWithResult(SyncPath.Wait(ExecuteReaderAsync(s, (NpgsqlCommand)command, async: false, default)))
            : result;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<DbDataReader>.SuppressWithResult(await ExecuteReaderAsync(s, (NpgsqlCommand)command, async: true, cancellationToken).ConfigureAwait(false))
            : result;

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<int>.SuppressWithResult(SyncPath.Wait(ExecuteAsync<int>(s, (NpgsqlCommand)command, ExecuteMode.NonQuery, async: false, default)))
            : result;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken cancellationToken = default)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<int>.SuppressWithResult(await ExecuteAsync<int>(s, (NpgsqlCommand)command, ExecuteMode.NonQuery, async: true, cancellationToken).ConfigureAwait(false))
            : result;

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<object>.SuppressWithResult(SyncPath.Wait(ExecuteAsync<object?>(s, (NpgsqlCommand)command, ExecuteMode.Scalar, async: false, default))!)
            : result;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    public override async ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<object> result, CancellationToken cancellationToken = default)
        => Routed(command, eventData, result.HasResult) is { } s
            ? InterceptionResult<object>.SuppressWithResult((await ExecuteAsync<object?>(s, (NpgsqlCommand)command, ExecuteMode.Scalar, async: true, cancellationToken).ConfigureAwait(false))!)
            : result;

    // The session when the command is routed; null when it runs on the context's own connection (in a transaction),
    // which is then only counted, or on a connection that is not the context's (the provider's admin connection to
    // the maintenance database, a connection the application gave EF), which is left alone.
    private static RoutingSession? Routed(DbCommand command, CommandEventData eventData, bool alreadySuppressed)
    {
        if (alreadySuppressed || RoutingSession.Of(eventData.Context) is not { } s || !ReferenceEquals(command.Connection, s.ContextConnection))
            return null;
        if (command.Transaction is null)
            return s;
        CountInTransaction(s, command);
        return null;
    }

    private static void CountInTransaction(RoutingSession s, DbCommand command)
    {
        var read = s.DataSource.Classifier.Classify(command.CommandText).Kind == StatementKind.Read;
        if (!read)
            s.TransactionWrote = true;
        if (s.ContextConnectionBackend is not { } backend)
            return;
        if (read)
            backend.CountReads(1);
        else
            backend.CountWrites(1);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    private static async ValueTask<DbDataReader> ExecuteReaderAsync(RoutingSession s, NpgsqlCommand command, bool async, CancellationToken cancellationToken)
    {
        var runner = s.Rent(command);
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
        return routed.NpgsqlReader!;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    private static async ValueTask<T> ExecuteAsync<T>(RoutingSession s, NpgsqlCommand command, ExecuteMode mode, bool async, CancellationToken cancellationToken)
    {
        var runner = s.Rent(command);
        try
        {
            return await runner.ExecuteAsync<T>(s.Connection, mode, async, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            s.Return(runner);
        }
    }

    // A routed reader is closed here, not by EF: closing it gives its physical connection back (and, for a write,
    // confirms the commit). Npgsql reuses reader objects per physical connection, so once it is back in the pool EF must
    // not touch the reader again: closing and disposing are suppressed, and the rest of EF's disposal is done here.
    public override InterceptionResult DataReaderClosing(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        if (RoutingSession.Of(eventData.Context) is not { } s || s.FindOpen(command) is not { } runner)
            return result;
        CloseRouted(s, runner);
        return InterceptionResult.Suppress();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per statement: no state machine allocated
    public override async ValueTask<InterceptionResult> DataReaderClosingAsync(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        if (RoutingSession.Of(eventData.Context) is not { } s || s.FindOpen(command) is not { } runner)
            return result;
        if (!runner.Reader.IsClosed)
        {
            try
            {
                await runner.ReadCommitPositionAsync(async: true).ConfigureAwait(false);
                await runner.Reader.CloseAsync().ConfigureAwait(false);
            }
            finally
            {
                runner.Restore();
            }
        }
        return InterceptionResult.Suppress();
    }

    private static void CloseRouted(RoutingSession s, ExternalCommand runner)
    {
        if (runner.Reader.IsClosed)
            return;
        try
        {
            SyncPath.Wait(runner.ReadCommitPositionAsync(async: false));
            runner.Reader.Close();
        }
        finally
        {
            runner.Restore();
        }
    }

    public override InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        if (RoutingSession.Of(eventData.Context) is not { } s || s.FindOpen(command) is not { } runner)
            return result;
        try
        {
            CloseRouted(s, runner); // EF closes before it disposes; this is for a close that threw
        }
        finally
        {
            s.ReaderDone(runner);
            command.Parameters.Clear();
            command.Dispose();
            eventData.Context!.Database.CloseConnection();
        }
        return InterceptionResult.Suppress();
    }

    // ---- the context's own connection ----

    public InterceptionResult<DbConnection> ConnectionCreating(ConnectionCreatingEventData eventData, InterceptionResult<DbConnection> result)
        => RoutingSession.Of(eventData.Context) is { } s && !result.HasResult
            ? InterceptionResult<DbConnection>.SuppressWithResult(s.CreateContextConnection())
            : result;

    // EF opens its connection before every command; it is really opened only for a transaction (TransactionStarting).
    public InterceptionResult ConnectionOpening(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
        => Opening(connection, eventData, result);

    public ValueTask<InterceptionResult> ConnectionOpeningAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result,
        CancellationToken cancellationToken = default)
        => new(Opening(connection, eventData, result));

    private static InterceptionResult Opening(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        if (RoutingSession.Of(eventData.Context) is not { } s || !ReferenceEquals(connection, s.ContextConnection))
            return result; // not the context's own (the provider's admin connection): opened as usual
        if (s.ReadOnlyPending)
            return result; // a read-only transaction's standby: EF opens it and begins the transaction there
        if (s.ContextConnectionIsStale)
            ReplaceContextConnection(eventData.Context!);
        return s.OpensContextConnection ? result : InterceptionResult.Suppress();
    }

    // After a failover (or a read-only transaction) the context's connection points at a server that is not the primary:
    // let EF create a new one (on the current primary) while it holds none open. EF refuses while an open of its own is
    // counted; the transaction then fails with a retryable error instead (see EnsurePrimary).
    private static void ReplaceContextConnection(DbContext context)
    {
        var timeout = context.Database.GetCommandTimeout();
        try
        {
            context.Database.SetDbConnection(null, contextOwnsConnection: true);
        }
        catch (InvalidOperationException)
        {
            return;
        }
        context.Database.SetCommandTimeout(timeout); // EF resets it with the connection
    }

    // ---- transactions ----

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        if (RoutingSession.Of(eventData.Context) is { ReadOnlyPending: false } s && ReferenceEquals(connection, s.ContextConnection))
            SyncPath.Wait(EnsurePrimaryAsync(s, eventData.Context!, connection, async: false, default));
        return result;
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(DbConnection connection, TransactionStartingEventData eventData,
        InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        if (RoutingSession.Of(eventData.Context) is { ReadOnlyPending: false } s && ReferenceEquals(connection, s.ContextConnection))
            await EnsurePrimaryAsync(s, eventData.Context!, connection, async: true, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private static async ValueTask<bool> EnsurePrimaryAsync(RoutingSession s, DbContext context, DbConnection connection, bool async, CancellationToken cancellationToken)
    {
        s.TransactionWrote = false;
        var primary = await s.DataSource.Selector.PrimaryAsync(cancellationToken).ConfigureAwait(false);
        if (!ReferenceEquals(primary.Backend, s.ContextConnectionBackend))
        {
            // EF counted the open that BeginTransaction made and will not undo it when this throws: undo it here, so
            // that the next attempt's open finds the context holding no connection and replaces it (Opening).
            if (async)
                await context.Database.CloseConnectionAsync().ConfigureAwait(false);
            else
                context.Database.CloseConnection();
            throw new RoutingException(RoutingFailure.ConnectionLost,
                $"This context's connection is on {s.ContextConnectionBackend?.Name}, which is no longer the primary ({primary.Backend.Name} is). "
                + "Nothing was sent. Run the unit of work again (RoutingExecutionStrategy does): the context then connects to the new primary.",
                backendName: s.ContextConnectionBackend?.Name);
        }
        if (connection.State != ConnectionState.Open)
        {
            if (async)
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            else
                connection.Open();
        }
        return true;
    }

    public DbTransaction TransactionStarted(DbConnection connection, TransactionEndEventData eventData, DbTransaction result)
    {
        if (RoutingSession.Of(eventData.Context) is { } s && s.TransactionBegun())
            SyncPath.Wait(MakeReadOnlyAsync(result, async: false, default));
        return result;
    }

    public async ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection, TransactionEndEventData eventData, DbTransaction result,
        CancellationToken cancellationToken = default)
    {
        if (RoutingSession.Of(eventData.Context) is { } s && s.TransactionBegun())
            await MakeReadOnlyAsync(result, async: true, cancellationToken).ConfigureAwait(false);
        return result;
    }

    // No standby was eligible: the read-only transaction runs on the primary, read-only there too.
    private static async ValueTask<bool> MakeReadOnlyAsync(DbTransaction transaction, bool async, CancellationToken cancellationToken)
    {
        var tx = (NpgsqlTransaction)transaction;
        await using var command = new NpgsqlCommand("SET TRANSACTION READ ONLY", tx.Connection, tx);
        if (async)
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        else
            command.ExecuteNonQuery();
        return true;
    }

    // A transaction that wrote commits with its commit position read in the same round trip (read-your-writes by LSN),
    // as the library's own transactions do: EF's COMMIT is suppressed and sent here, followed by the position's SELECT.
    public InterceptionResult TransactionCommitting(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result)
    {
        if (result.IsSuppressed || PositionedCommit(eventData, transaction) is not { } command)
            return result;
        Positioned(eventData, command.ExecuteScalar());
        return InterceptionResult.Suppress();
    }

    public async ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result,
        CancellationToken cancellationToken = default)
    {
        if (result.IsSuppressed || PositionedCommit(eventData, transaction) is not { } command)
            return result;
        Positioned(eventData, await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false));
        return InterceptionResult.Suppress();
    }

    private static NpgsqlCommand? PositionedCommit(TransactionEventData eventData, DbTransaction transaction)
    {
        if (RoutingSession.Of(eventData.Context) is not { TransactionWrote: true } s || transaction.Connection is not NpgsqlConnection connection
            || !ReferenceEquals(connection, s.ContextConnection) || s.DataSource.Options.ReadYourWrites == ReadYourWritesScope.None
            || s.DataSource.Monitor.Current.Primary?.Backend is not { } primary || !ReferenceEquals(primary, s.ContextConnectionBackend))
            return null;
        var command = s.PositionedCommit;
        command.Connection = connection;
        return command;
    }

    private static void Positioned(TransactionEventData eventData, object? position)
    {
        var s = RoutingSession.Of(eventData.Context)!;
        s.PositionedCommit.Connection = null;
        s.CommitLsn = position is NpgsqlTypes.NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Committed(eventData);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Committed(eventData);
        return Task.CompletedTask;
    }

    private static void Committed(TransactionEndEventData eventData)
    {
        if (RoutingSession.Of(eventData.Context) is not { } s)
            return;
        if (s.TransactionWrote)
            s.Connection.NoteWriteCommitted(s.CommitLsn);
        s.TransactionWrote = false;
        s.CommitLsn = 0;
    }

    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Failed(eventData);

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Failed(eventData);
        return Task.CompletedTask;
    }

    // A COMMIT that failed may have committed, unless the server refused it (serialization failure, deadlock): then
    // nothing was committed and the unit may run again, as PgRoutingDataSource.ExecuteAsync does.
    private static void Failed(TransactionErrorEventData eventData)
    {
        if (eventData.Action == "Commit" && eventData.Exception is not PostgresException { SqlState: "40001" or "40P01" }
            && RoutingSession.Of(eventData.Context) is { } s)
            s.CommitFailed = true;
    }
}
