using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Routing;

namespace RoutingDataSource;

/// <summary>
/// A command on a <see cref="RoutingConnection"/>. Its text is classified (cached by text) and routed: reads to an
/// eligible standby, everything else to the primary, everything inside a transaction or pinned session to that
/// session's server. Parameters are Npgsql parameters (<see cref="NpgsqlParameter"/>), so every Npgsql type works.
/// </summary>
public sealed class RoutingCommand : DbCommand, IRoutedStatement
{
    // The Npgsql command does the real work on whichever physical connection the statement is routed to; keeping one
    // per routing command keeps parameters, prepared state and settings in one place and allocates nothing per call.
    // Replaced only when a statement it ran was abandoned on a hung server (see ReplaceAbandoned).
    private NpgsqlCommand _inner = new();
    private RoutingConnection? _connection;
    private RoutingTransaction? _transaction;
    private bool _prepareRequested;
    private RoutingDataReader? _reader;

    /// <summary>Creates a command without a connection.</summary>
    public RoutingCommand()
    {
    }

    /// <summary>Creates a command with its text and connection.</summary>
    public RoutingCommand(string commandText, RoutingConnection? connection = null)
    {
        _inner.CommandText = commandText;
        _connection = connection;
    }

    /// <inheritdoc />
    [AllowNull]
    public override string CommandText
    {
        get => _inner.CommandText;
        set => _inner.CommandText = value;
    }

    /// <inheritdoc />
    public override int CommandTimeout
    {
        get => _inner.CommandTimeout;
        set => _inner.CommandTimeout = value;
    }

    /// <summary>
    /// <see cref="CommandType.Text"/> is classified and routed. <see cref="CommandType.StoredProcedure"/> always goes to
    /// the primary (a procedure or function may write). <see cref="CommandType.TableDirect"/> is a read.
    /// </summary>
    public override CommandType CommandType
    {
        get => _inner.CommandType;
        set => _inner.CommandType = value;
    }

    /// <inheritdoc />
    public override UpdateRowSource UpdatedRowSource
    {
        get => _inner.UpdatedRowSource;
        set => _inner.UpdatedRowSource = value;
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
    public new NpgsqlParameterCollection Parameters => _inner.Parameters;

    /// <inheritdoc />
    protected override DbParameterCollection DbParameterCollection => _inner.Parameters;

    /// <summary>Creates an <see cref="NpgsqlParameter"/>.</summary>
    public new NpgsqlParameter CreateParameter() => _inner.CreateParameter();

    /// <inheritdoc />
    protected override DbParameter CreateDbParameter() => _inner.CreateParameter();

    /// <summary>
    /// Marks the statement for preparation. Prepared statements live on physical connections, so it is prepared on
    /// each physical connection it runs on (once per connection; Npgsql remembers).
    /// </summary>
    public override void Prepare()
    {
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
        if (_inner.Connection is { State: ConnectionState.Open or ConnectionState.Executing or ConnectionState.Fetching })
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

    private RoutingConnection RequireOpenConnection()
    {
        var conn = _connection ?? throw new InvalidOperationException("The command has no connection.");
        conn.ThrowIfNotOpen();
        return conn;
    }

    private SqlClassification Classify(RoutingConnection conn) => _inner.CommandType switch
    {
        CommandType.Text => conn.DataSourceInternal.Classifier.Classify(_inner.CommandText ?? ""),
        CommandType.TableDirect => StatementClassifications.TableRead,
        _ => StatementClassifications.Procedure,
    };

    // TResult is int for NonQuery, object? for Scalar, and RoutingDataReader or DbDataReader for Reader. On the async
    // path a failure before anything runs comes back in the task, as from an async method.
    private ValueTask<TResult> Execute<TResult>(ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        try
        {
            var conn = RequireOpenConnection();
            if (_reader is { IsClosed: false })
                throw new InvalidOperationException("A reader of this command is still open; close it first.");
            var metrics = conn.DataSourceInternal.Metrics;
            var started = metrics.DecisionTimingEnabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var c = Classify(conn);
            if (mode != ExecuteMode.Reader && conn.TryConsumeTransactionControl(c, _inner.CommandText))
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
        _inner.Connection = connection;
        _inner.Transaction = transaction;
    }

    void IRoutedStatement.ReplaceAbandoned()
    {
        // The abandoned Npgsql command is still executing on the hung server's connection, and may resume whenever that
        // server does: it must never run another statement. The parameters move to the new one, so the caller's
        // references to them stay valid.
        var old = _inner;
        var fresh = new NpgsqlCommand
        {
            CommandText = old.CommandText,
            CommandType = old.CommandType,
            CommandTimeout = old.CommandTimeout,
            UpdatedRowSource = old.UpdatedRowSource,
            AllResultTypesAreUnknown = old.AllResultTypesAreUnknown,
        };
        if (old.UnknownResultTypeList is { } unknown)
            fresh.UnknownResultTypeList = unknown;
        var parameters = old.Parameters.ToArray();
        old.Parameters.Clear();
        fresh.Parameters.AddRange(parameters);
        _inner = fresh;
    }

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken)
    {
        if (!_prepareRequested)
            return default;
        if (async)
            return new ValueTask(_inner.PrepareAsync(cancellationToken));
        _inner.Prepare();
        return default;
    }

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken) => _inner.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _inner.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken) => _inner.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _inner.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken) => _inner.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior) => _inner.ExecuteReader(behavior);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _inner.Dispose();
        base.Dispose(disposing);
    }
}
