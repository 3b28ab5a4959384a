using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;
using RoutingDataSource.Connections;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// The context's own connection and its transactions. EF's connection is a real one to the primary (or, for a read-only
/// transaction, to one standby), opened only for a transaction or migrations: a context that only reads never opens a
/// primary connection. Statements outside a transaction do not use it: <see cref="RoutingRelationalCommand"/> routes
/// them and does not open it.
/// </summary>
internal sealed class RoutingInterceptor : IDbConnectionInterceptor, IDbTransactionInterceptor
{
    public static readonly RoutingInterceptor Instance = new();

    // ---- the context's own connection ----

    public InterceptionResult<DbConnection> ConnectionCreating(ConnectionCreatingEventData eventData, InterceptionResult<DbConnection> result)
        => RoutingSession.Of(eventData.Context) is { } s && !result.HasResult
            ? InterceptionResult<DbConnection>.SuppressWithResult(s.CreateContextConnection())
            : result;

    // EF opens its connection around SaveChanges and when the application asks; it is really opened only for a
    // transaction (TransactionStarting) or migrations.
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
