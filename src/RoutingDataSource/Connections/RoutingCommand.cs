using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

/// <summary>
/// A command on a <see cref="RoutingConnection"/>. Its text is classified (cached by text) and routed: reads to an
/// eligible standby, everything else to the primary, everything inside a transaction or pinned session to that
/// session's server. Parameters are Npgsql parameters (<see cref="NpgsqlParameter"/>), so every Npgsql type works.
/// </summary>
/// <remarks>
/// <para>
/// Reuse, as in Npgsql: a command made by <see cref="RoutingConnection.CreateCommand"/> goes back to that connection
/// when disposed (reset: no text, no parameters, no transaction, the default timeout), and the connection's next
/// <c>CreateCommand</c> hands out the same object again. A disposed command must therefore not be used any more: until
/// it is handed out again it throws <see cref="ObjectDisposedException"/> on execution, preparation and on setting its
/// text, type or timeout (as a disposed <see cref="NpgsqlCommand"/> does); afterwards it is the new command. A command
/// with a timeout set, or prepared, or disposed while a reader or statement of it is still open, is not reused.
/// </para>
/// <para>
/// The Npgsql command inside (the one that runs on the physical connections) is recycled process-wide when the
/// command is disposed and not kept by its connection, but only if the application never saw its parameter
/// collection: no object the application may still hold ever belongs to two live commands.
/// </para>
/// </remarks>
public sealed class RoutingCommand : DbCommand, IRoutedStatement
{
    // The Npgsql command does the real work on whichever physical connection the statement is routed to; keeping one
    // per routing command keeps parameters, prepared state and settings in one place and allocates nothing per call.
    // Replaced only when a statement it ran was abandoned on a hung server (see ReplaceAbandoned).
    // Null only after the command was disposed and its Npgsql command recycled (see Dispose and Inner).
    private NpgsqlCommand? _inner = RentInner();
    private RoutingConnection? _connection;
    private RoutingTransaction? _transaction;
    private bool _prepareRequested;
    private RoutingDataReader? _reader;
    // Whether the command goes back to its connection's cache when disposed (made by RoutingConnection.CreateCommand).
    private bool _cacheable;
    private bool _disposed;
    // What decides whether the Npgsql command inside can be reset and recycled (see ResetInner).
    private bool _timeoutSet;
    private bool _parametersSeen;
    // Read-your-writes (see ReadGuard and CommitPosition): a guard before a read, a write outside a transaction run so
    // that it reads its commit position. Made the first time either path is taken.
    private CommandRewrite? _rewrite;

    // Clean Npgsql commands of disposed routing commands (no connection, no text, no parameters, no timeout set).
    private static readonly ObjectSlots<NpgsqlCommand> RecycledInner = new(64);

    /// <summary>Creates a command without a connection.</summary>
    public RoutingCommand()
    {
    }

    /// <summary>Creates a command with its text and connection.</summary>
    public RoutingCommand(string commandText, RoutingConnection? connection = null)
    {
        _inner!.CommandText = commandText;
        _connection = connection;
    }

    /// <summary>A command for <see cref="RoutingConnection.CreateCommand"/>: it goes back to the connection when disposed.</summary>
    internal static RoutingCommand CreateCached(RoutingConnection connection) => new() { _connection = connection, _cacheable = true };

    /// <summary>Hands out a command taken from its connection's cache again (already reset when it was disposed).</summary>
    internal RoutingCommand Reuse()
    {
        _disposed = false;
        return this;
    }

    private static NpgsqlCommand RentInner() => RecycledInner.Rent() ?? new NpgsqlCommand();

    // After the Npgsql command went back to the recycled ones, a disposed Npgsql command of its own stands in for it:
    // reading works, changing it throws ObjectDisposedException, as before recycling existed. Allocated only then.
    private NpgsqlCommand Inner => _inner ?? DisposedStandIn();

    /// <summary>The Npgsql command inside (for tests).</summary>
    internal NpgsqlCommand InnerCommand => Inner;

    private NpgsqlCommand DisposedStandIn()
    {
        var standIn = new NpgsqlCommand();
        standIn.Dispose();
        return _inner = standIn;
    }

    /// <inheritdoc />
    [AllowNull]
    public override string CommandText
    {
        get => _rewrite?.UnguardedText ?? Inner.CommandText;
        set
        {
            ThrowIfDisposed();
            Inner.CommandText = value;
        }
    }

    /// <inheritdoc />
    public override int CommandTimeout
    {
        get => Inner.CommandTimeout;
        set
        {
            ThrowIfDisposed();
            Inner.CommandTimeout = value;
            _timeoutSet = true;
        }
    }

    /// <summary>
    /// <see cref="CommandType.Text"/> is classified and routed. <see cref="CommandType.StoredProcedure"/> always goes to
    /// the primary (a procedure or function may write). <see cref="CommandType.TableDirect"/> is a read.
    /// </summary>
    public override CommandType CommandType
    {
        get => Inner.CommandType;
        set
        {
            ThrowIfDisposed();
            Inner.CommandType = value;
        }
    }

    /// <inheritdoc />
    public override UpdateRowSource UpdatedRowSource
    {
        get => Inner.UpdatedRowSource;
        set => Inner.UpdatedRowSource = value;
    }

    /// <inheritdoc />
    public override bool DesignTimeVisible { get; set; }

    /// <summary>The connection the command runs on.</summary>
    public new RoutingConnection? Connection
    {
        get => _connection;
        set => _connection = value;
    }

    /// <inheritdoc />
    protected override DbConnection? DbConnection
    {
        get => _connection;
        set => _connection = value switch
        {
            null => null,
            RoutingConnection rc => rc,
            _ => throw new ArgumentException("A RoutingCommand needs a RoutingConnection.", nameof(value)),
        };
    }

    /// <summary>The transaction (informational: statements follow the connection's transaction in any case).</summary>
    public new RoutingTransaction? Transaction
    {
        get => _transaction;
        set => _transaction = value;
    }

    /// <inheritdoc />
    protected override DbTransaction? DbTransaction
    {
        get => _transaction;
        set => _transaction = value switch
        {
            null => null,
            RoutingTransaction rt => rt,
            _ => throw new ArgumentException("A RoutingCommand needs a RoutingTransaction.", nameof(value)),
        };
    }

    /// <summary>The command's parameters (Npgsql parameters).</summary>
    public new NpgsqlParameterCollection Parameters => SeenParameters();

    /// <inheritdoc />
    protected override DbParameterCollection DbParameterCollection => SeenParameters();

    private NpgsqlParameterCollection SeenParameters()
    {
        _parametersSeen = true;
        return Inner.Parameters;
    }

    /// <summary>Creates an <see cref="NpgsqlParameter"/>.</summary>
    public new NpgsqlParameter CreateParameter() => Inner.CreateParameter();

    /// <inheritdoc />
    protected override DbParameter CreateDbParameter() => Inner.CreateParameter();

    /// <summary>
    /// Marks the statement for preparation. Prepared statements live on physical connections, so it is prepared on
    /// each physical connection it runs on (once per connection; Npgsql remembers).
    /// </summary>
    public override void Prepare()
    {
        ThrowIfDisposed();
        RequireOpenConnection();
        _prepareRequested = true;
    }

    /// <inheritdoc cref="Prepare" />
    public override Task PrepareAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Prepare();
        return Task.CompletedTask;
    }

    /// <summary>Asks the server running this command to cancel it. Does nothing if it is not running.</summary>
    public override void Cancel()
    {
        // Npgsql ignores a cancel of a command that is not running, so a finished command cannot reach a later
        // statement on the same (reused) physical connection.
        if (_inner?.Connection is { State: ConnectionState.Open or ConnectionState.Executing or ConnectionState.Fetching })
            _inner.Cancel();
    }

    /// <inheritdoc />
    public override int ExecuteNonQuery() => SyncPath.Wait(Execute<int>(ExecuteMode.NonQuery, CommandBehavior.Default, async: false, default));

    /// <inheritdoc />
    public override Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken)
        => Execute<int>(ExecuteMode.NonQuery, CommandBehavior.Default, async: true, cancellationToken).AsTask();

    /// <inheritdoc />
    public override object? ExecuteScalar() => SyncPath.Wait(Execute<object?>(ExecuteMode.Scalar, CommandBehavior.Default, async: false, default));

    /// <inheritdoc />
    public override Task<object?> ExecuteScalarAsync(CancellationToken cancellationToken)
        => Execute<object?>(ExecuteMode.Scalar, CommandBehavior.Default, async: true, cancellationToken).AsTask();

    /// <summary>Executes and returns a reader; the physical connection returns to its pool when the reader closes.</summary>
    public new RoutingDataReader ExecuteReader() => ExecuteReader(CommandBehavior.Default);

    /// <inheritdoc cref="ExecuteReader()" />
    public new RoutingDataReader ExecuteReader(CommandBehavior behavior)
        => SyncPath.Wait(Execute<RoutingDataReader>(ExecuteMode.Reader, behavior, async: false, default));

    /// <inheritdoc cref="ExecuteReader()" />
    public new Task<RoutingDataReader> ExecuteReaderAsync(CommandBehavior behavior = CommandBehavior.Default, CancellationToken cancellationToken = default)
        => Execute<RoutingDataReader>(ExecuteMode.Reader, behavior, async: true, cancellationToken).AsTask();

    /// <inheritdoc />
    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => ExecuteReader(behavior);

    /// <inheritdoc />
    protected override Task<DbDataReader> ExecuteDbDataReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
        => Execute<DbDataReader>(ExecuteMode.Reader, behavior, async: true, cancellationToken).AsTask();

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private RoutingConnection RequireOpenConnection()
    {
        var conn = _connection ?? throw new InvalidOperationException("The command has no connection.");
        conn.ThrowIfNotOpen();
        return conn;
    }

    private SqlClassification Classify(RoutingConnection conn) => Inner.CommandType switch
    {
        CommandType.Text => conn.DataSourceInternal.Classifier.Classify(Inner.CommandText ?? ""),
        CommandType.TableDirect => StatementClassifications.TableRead,
        _ => StatementClassifications.Procedure,
    };

    // TResult is int for NonQuery, object? for Scalar, and RoutingDataReader or DbDataReader for Reader. On the async
    // path a failure before anything runs comes back in the task, as from an async method.
    private ValueTask<TResult> Execute<TResult>(ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        try
        {
            ThrowIfDisposed();
            var conn = RequireOpenConnection();
            if (_reader is { IsClosed: false })
                throw new InvalidOperationException("A reader of this command is still open; close it first.");
            var metrics = conn.DataSourceInternal.Metrics;
            var started = metrics.DecisionTimingEnabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var c = Classify(conn);
            if (mode != ExecuteMode.Reader && conn.TryConsumeTransactionControl(c, Inner.CommandText))
                return new(mode == ExecuteMode.NonQuery ? (TResult)(object)(-1) : default!);
            if (mode != ExecuteMode.Reader && conn.IsSqlCommitOfPinnedTransaction(c))
                return CommitAsync<TResult>(conn, mode, cancellationToken);
            var route = conn.DataSourceInternal.Router.Route(c);
            if (started != 0)
                metrics.Decision(started);
            return RoutedExecution.ExecuteAsync<TResult>(this, conn, c, route, 1, mode, behavior, async, cancellationToken);
        }
        catch (Exception e) when (async)
        {
            return ValueTask.FromException<TResult>(e);
        }
    }

    private static async ValueTask<TResult> CommitAsync<TResult>(RoutingConnection conn, ExecuteMode mode, CancellationToken cancellationToken)
    {
        await conn.CommitSqlTransactionAsync(cancellationToken).ConfigureAwait(false);
        return mode == ExecuteMode.NonQuery ? (TResult)(object)(-1) : default!;
    }

    (SqlClassification, StatementRoute) IRoutedStatement.Plan(RoutingConnection connection)
    {
        var c = Classify(connection);
        return (c, connection.DataSourceInternal.Router.Route(c));
    }

    RoutingDataReader IRoutedStatement.Reader => _reader ??= new RoutingDataReader();

    void IRoutedStatement.Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        var inner = Inner;
        inner.Connection = connection;
        inner.Transaction = transaction;
    }

    void IRoutedStatement.ReplaceAbandoned()
        => _inner = AbandonedCommand.Replacement(Inner, _rewrite?.Abandon()); // a rewrite's batch goes with the abandoned statement

    bool IRoutedStatement.CanGuard => CommandRewrite.CanRewrite(Inner, _prepareRequested);

    void IRoutedStatement.Guard(string guardSql) => (_rewrite ??= new()).Guard(Inner, guardSql);

    // Disposed while its reader was open: the Npgsql command went with it and is never used again.
    void IRoutedStatement.Unguard() => _rewrite?.Unguard(_disposed ? null : _inner);

    NpgsqlBatch? IRoutedStatement.Positioned(NpgsqlConnection connection, int statementCount, string? state)
        => (_rewrite ??= new()).Positioned(Inner, connection, statementCount, _prepareRequested, state);

    bool IRoutedStatement.CanCarryStateIntoWrite(SqlClassification c) => c.IsPlainDml && CommandRewrite.CanPosition(Inner, c.StatementCount, _prepareRequested);

    void IRoutedStatement.Unposition() => _rewrite?.Unposition(Inner);

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken)
    {
        if (!_prepareRequested)
            return default;
        if (async)
            return new ValueTask(Inner.PrepareAsync(cancellationToken));
        Inner.Prepare();
        return default;
    }

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken)
        => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteNonQueryAsync(cancellationToken) : Inner.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteNonQuery() : Inner.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken)
        => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteScalarAsync(cancellationToken) : Inner.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteScalar() : Inner.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
        => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteReaderAsync(behavior, cancellationToken) : Inner.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior) => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteReader(behavior) : Inner.ExecuteReader(behavior);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _transaction = null;
            var inner = _inner;
            if (inner is not null && ResetInner(inner))
            {
                if (_cacheable && _connection is { CachedCommand: null } conn)
                {
                    // As NpgsqlCommand.Dispose: back to the connection for its next CreateCommand.
                    DesignTimeVisible = false;
                    conn.CachedCommand = this;
                }
                else
                {
                    Recycle();
                }
            }
            else
            {
                inner?.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Gives the Npgsql command of this disposed (and reset) command to the next new command, unless the application
    /// saw its parameter collection (it may still hold it); then it is disposed.
    /// </summary>
    internal void Recycle()
    {
        var inner = _inner;
        if (inner is null)
            return;
        _inner = null;
        if (_parametersSeen || !RecycledInner.Return(inner))
            inner.Dispose();
    }

    // Resets the Npgsql command to what a new one is, if that is possible: not when its timeout was set (Npgsql offers
    // no way back to "the connection's timeout") or it was prepared, nor while a reader or statement of it is still
    // open (Npgsql refuses to change its text then).
    private bool ResetInner(NpgsqlCommand inner)
    {
        if (_timeoutSet || _prepareRequested || _reader is { IsClosed: false } || inner.AllResultTypesAreUnknown || inner.UnknownResultTypeList is not null)
            return false;
        try
        {
            inner.CommandText = "";
            inner.CommandType = CommandType.Text;
            inner.UpdatedRowSource = UpdateRowSource.Both;
            inner.Connection = null;
            inner.Transaction = null;
            if (_parametersSeen)
                inner.Parameters.Clear();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
