using System.Data;
using System.Data.Common;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Routing;

namespace RoutingDataSource;

/// <summary>
/// A batch of statements sent in one round trip. The whole batch goes to one server: a standby only when every
/// command in it is a read a standby may serve, otherwise the primary. The commands are Npgsql batch commands.
/// </summary>
public sealed class RoutingBatch : DbBatch, IRoutedStatement
{
    private NpgsqlBatch _inner = new(); // replaced only after an abandoned statement (see RoutingCommand.ReplaceAbandoned)
    private RoutingConnection? _connection;
    private RoutingTransaction? _transaction;
    private RoutingDataReader? _reader;
    private NpgsqlBatchCommand? _guard; // put first while a read guard stands (see ReadGuard)
    private NpgsqlBatchCommand? _position; // put last while a write reads its commit position (see CommitPosition)
    private bool? _lastBarrier; // the last command's own AppendErrorBarrier while _position follows it
    private bool _startsWithPlainDml; // the first command is plain DML (see SqlClassification.IsPlainDml), from the last Plan

    /// <summary>The commands of the batch.</summary>
    public new NpgsqlBatchCommandCollection BatchCommands => _inner.BatchCommands;

    /// <inheritdoc />
    protected override DbBatchCommandCollection DbBatchCommands => _inner.BatchCommands;

    /// <inheritdoc />
    public override int Timeout
    {
        get => _inner.Timeout;
        set => _inner.Timeout = value;
    }

    /// <summary>The connection the batch runs on.</summary>
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
            _ => throw new ArgumentException("A RoutingBatch needs a RoutingConnection.", nameof(value)),
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
            _ => throw new ArgumentException("A RoutingBatch needs a RoutingTransaction.", nameof(value)),
        };
    }

    /// <summary>Creates an <see cref="NpgsqlBatchCommand"/>.</summary>
    public new NpgsqlBatchCommand CreateBatchCommand() => new();

    /// <inheritdoc />
    protected override DbBatchCommand CreateDbBatchCommand() => new NpgsqlBatchCommand();

    /// <inheritdoc />
    public override void Prepare() => RequireOpenConnection();

    /// <inheritdoc />
    public override Task PrepareAsync(CancellationToken cancellationToken = default)
    {
        RequireOpenConnection();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override void Cancel()
    {
        if (_inner.Connection is { State: ConnectionState.Open or ConnectionState.Executing or ConnectionState.Fetching })
            _inner.Cancel();
    }

    /// <inheritdoc />
    public override int ExecuteNonQuery() => SyncPath.Wait(Execute<int>(ExecuteMode.NonQuery, CommandBehavior.Default, false, default));

    /// <inheritdoc />
    public override Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken = default)
        => Execute<int>(ExecuteMode.NonQuery, CommandBehavior.Default, true, cancellationToken).AsTask();

    /// <inheritdoc />
    public override object? ExecuteScalar() => SyncPath.Wait(Execute<object?>(ExecuteMode.Scalar, CommandBehavior.Default, false, default));

    /// <inheritdoc />
    public override Task<object?> ExecuteScalarAsync(CancellationToken cancellationToken = default)
        => Execute<object?>(ExecuteMode.Scalar, CommandBehavior.Default, true, cancellationToken).AsTask();

    /// <inheritdoc />
    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior)
        => SyncPath.Wait(Execute<DbDataReader>(ExecuteMode.Reader, behavior, false, default));

    /// <inheritdoc />
    protected override Task<DbDataReader> ExecuteDbDataReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
        => Execute<DbDataReader>(ExecuteMode.Reader, behavior, true, cancellationToken).AsTask();

    private RoutingConnection RequireOpenConnection()
    {
        var conn = _connection ?? throw new InvalidOperationException("The batch has no connection.");
        conn.ThrowIfNotOpen();
        return conn;
    }

    /// <summary>The strongest route any command needs, and the classification that stands for the batch.</summary>
    private (SqlClassification, StatementRoute) Plan(RoutingConnection conn)
    {
        var ds = conn.DataSourceInternal;
        SqlClassification? representative = null;
        StatementRoute? route = null;
        _startsWithPlainDml = false;
        foreach (var bc in _inner.BatchCommands)
        {
            var c = bc.CommandType == CommandType.Text ? ds.Classifier.Classify(bc.CommandText ?? "") : StatementClassifications.Procedure;
            if (representative is null)
                _startsWithPlainDml = c.IsPlainDml;
            if (c.Kind == StatementKind.TransactionControl)
                return (StatementClassifications.BatchTransactionControl, new StatementRoute(StatementKind.TransactionControl, false, "batch with transaction control"));
            var r = ds.Router.Route(c);
            if (route is null || r.IsStrongerThan(route.Value))
            {
                route = r;
                representative = c;
            }
        }
        return representative is null
            ? (StatementClassifications.TableRead, new StatementRoute(StatementKind.Read, true, "empty batch"))
            : (representative, route!.Value);
    }

    // TResult as in RoutingCommand.Execute; on the async path a failure before anything runs comes back in the task.
    private ValueTask<TResult> Execute<TResult>(ExecuteMode mode, CommandBehavior behavior, bool async, CancellationToken cancellationToken)
    {
        try
        {
            var conn = RequireOpenConnection();
            if (_inner.BatchCommands.Count == 0)
                throw new InvalidOperationException("The batch has no commands.");
            if (_reader is { IsClosed: false })
                throw new InvalidOperationException("A reader of this batch is still open; close it first.");
            var (c, route) = Plan(conn);
            return RoutedExecution.ExecuteAsync<TResult>(this, conn, c, route, _inner.BatchCommands.Count, mode, behavior, async, cancellationToken);
        }
        catch (Exception e) when (async)
        {
            return ValueTask.FromException<TResult>(e);
        }
    }

    (SqlClassification, StatementRoute) IRoutedStatement.Plan(RoutingConnection connection) => Plan(connection);

    RoutingDataReader IRoutedStatement.Reader => _reader ??= new RoutingDataReader();

    void IRoutedStatement.Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        _inner.Connection = connection;
        _inner.Transaction = transaction;
    }

    void IRoutedStatement.ReplaceAbandoned()
    {
        var old = _inner;
        var fresh = new NpgsqlBatch { Timeout = old.Timeout, EnableErrorBarriers = old.EnableErrorBarriers };
        var commands = new List<NpgsqlBatchCommand>(old.BatchCommands.Count);
        var positioned = old.BatchCommands.Count > 0 && ReferenceEquals(old.BatchCommands[^1], _position);
        for (var i = 0; i < old.BatchCommands.Count; i++)
        {
            // The read guard and the commit position are the library's own: only the caller's commands move.
            if (!ReferenceEquals(old.BatchCommands[i], _guard) && !ReferenceEquals(old.BatchCommands[i], _position))
                commands.Add(old.BatchCommands[i]);
        }
        if (positioned && commands.Count > 0)
            commands[^1].AppendErrorBarrier = _lastBarrier;
        old.BatchCommands.Clear();
        foreach (var command in commands)
            fresh.BatchCommands.Add(command);
        _inner = fresh;
    }

    // With error barriers the server would run the statements after a failed guard.
    bool IRoutedStatement.CanGuard
    {
        get
        {
            if (_inner.EnableErrorBarriers)
                return false;
            var commands = _inner.BatchCommands;
            for (var i = 0; i < commands.Count; i++)
            {
                if (commands[i].AppendErrorBarrier == true)
                    return false;
            }
            return true;
        }
    }

    void IRoutedStatement.Guard(string guardSql)
    {
        var guard = _guard ??= new NpgsqlBatchCommand { AppendErrorBarrier = false };
        guard.CommandText = guardSql;
        _inner.BatchCommands.Insert(0, guard);
    }

    void IRoutedStatement.Unguard()
    {
        if (_guard is { } guard && _inner.BatchCommands.Count > 0 && ReferenceEquals(_inner.BatchCommands[0], guard))
            _inner.BatchCommands.RemoveAt(0);
    }

    NpgsqlBatch? IRoutedStatement.Positioned(NpgsqlConnection connection, int statementCount, string? state)
    {
        var commands = _inner.BatchCommands;
        var last = commands[^1];
        _lastBarrier = last.AppendErrorBarrier;
        // The batch ends with a Sync anyway: a barrier after its last statement changes nothing but lets the position
        // be read after the commit.
        last.AppendErrorBarrier = true;
        commands.Add(_position ??= CommitPosition.Command());
        if (state is not null)
            ((IRoutedStatement)this).Guard(state); // the same first place a read guard takes: no barrier after it
        return _inner;
    }

    // The state runs without a barrier before the first command only: the batch's own barriers stand between the rest.
    bool IRoutedStatement.CanCarryStateIntoWrite(SqlClassification c) => _startsWithPlainDml;

    void IRoutedStatement.Unposition()
    {
        var commands = _inner.BatchCommands;
        if (commands.Count > 0 && ReferenceEquals(commands[^1], _position))
        {
            commands.RemoveAt(commands.Count - 1);
            if (commands.Count > 0)
                commands[^1].AppendErrorBarrier = _lastBarrier;
        }
        ((IRoutedStatement)this).Unguard(); // the session state in front, if any
    }

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken) => default;

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken) => _inner.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _inner.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken) => _inner.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _inner.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken) => _inner.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior) => _inner.ExecuteReader(behavior);

    /// <inheritdoc />
    public override void Dispose()
    {
        _inner.Dispose();
        base.Dispose();
    }
}
