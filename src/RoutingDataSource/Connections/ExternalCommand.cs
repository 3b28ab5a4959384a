using System.Data;
using Npgsql;
using RoutingDataSource.Classification;

namespace RoutingDataSource.Connections;

/// <summary>
/// Runs an <see cref="NpgsqlCommand"/> that belongs to someone else (EF Core's, made on its own connection) through a
/// routing connection: the command is classified and routed like a <see cref="RoutingCommand"/>, bound to the chosen
/// physical connection for the statement, and handed back to its owner's connection afterwards
/// (<see cref="Restore"/>). One object serves one statement at a time; its reader is reused. Read-your-writes as for a
/// routing command: a read behind a guard where the standby is not known to have replayed the session's writes, a
/// write outside a transaction run so that its commit position comes back in its round trip, a write read through a
/// reader included (EF Core's SaveChanges): its reader then ends with the position's result, which
/// <see cref="ReadCommitPositionAsync"/> takes before the reader is closed.
/// </summary>
internal sealed class ExternalCommand : IRoutedStatement
{
    private NpgsqlCommand? _command; // the owner's
    private NpgsqlCommand? _running; // what runs: the owner's, or a replacement after it was abandoned
    private NpgsqlConnection? _owner;
    private RoutingDataReader? _reader;
    private CommandRewrite? _rewrite;
    private RoutingConnection? _connection;
    private bool _positionsReader; // a write through a reader, which runs positioned when the session wants its position
    private ulong _readerCommitLsn;

    /// <summary>The owner's command it runs now, or null when idle.</summary>
    public NpgsqlCommand? Command => _command;

    /// <summary>The owner's command was left running on a hung server: it must not be touched any more (a replacement runs instead).</summary>
    public bool Abandoned { get; private set; }

    /// <summary>The routing reader of the last reader statement (its Npgsql reader is what the owner reads).</summary>
    public RoutingDataReader Reader => _reader ??= new RoutingDataReader();

    public void Start(NpgsqlCommand command)
    {
        _command = _running = command;
        _owner = command.Connection;
        Abandoned = false;
        _readerCommitLsn = 0;
    }

    /// <summary>Routes and runs the command on <paramref name="conn"/>, as <see cref="RoutingCommand"/> does.</summary>
    public ValueTask<TResult> ExecuteAsync<TResult>(RoutingConnection conn, ExecuteMode mode, bool async, CancellationToken cancellationToken)
    {
        try
        {
            var command = _command!;
            var ds = conn.DataSourceInternal;
            var c = Classify(ds, command);
            if (mode != ExecuteMode.Reader && conn.TryConsumeTransactionControl(c, command.CommandText))
                return new(mode == ExecuteMode.NonQuery ? (TResult)(object)(-1) : default!);
            var route = ds.Router.Route(c);
            _connection = conn;
            _positionsReader = mode == ExecuteMode.Reader && PositionsReader(c, route);
            return RoutedExecution.ExecuteAsync<TResult>(this, conn, c, route, 1, mode, CommandBehavior.Default, async, cancellationToken);
        }
        catch (Exception e) when (async)
        {
            return ValueTask.FromException<TResult>(e);
        }
    }

    /// <summary>
    /// Before a write's reader is closed: reads the commit position that ends its results, if it ran positioned (a
    /// position that does not come back leaves the write to the next probe sample, as an unpositioned one).
    /// </summary>
    public async ValueTask ReadCommitPositionAsync(bool async)
    {
        if (_rewrite is not { RunPositioned: true } || Reader.NpgsqlReader is not { IsClosed: false } reader)
            return;
        try
        {
            do
            {
                if (reader.FieldCount == 1 && reader.GetDataTypeName(0) == "pg_lsn")
                {
                    if (async ? await reader.ReadAsync().ConfigureAwait(false) : reader.Read())
                        _readerCommitLsn = (ulong)reader.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(0);
                    return;
                }
            }
            while (async ? await reader.NextResultAsync().ConfigureAwait(false) : reader.NextResult());
        }
        catch (NpgsqlException)
        {
            // The connection failed after the write's results: closing the reader reports it.
        }
    }

    /// <summary>Gives the command back to its owner's connection, once its statement or reader is done.</summary>
    public void Restore()
    {
        if (_running is { } running && !Abandoned)
            _rewrite?.Unposition(running);
        if (_running is { } command && !Abandoned && !ReferenceEquals(command.Connection, _owner))
        {
            try
            {
                command.Connection = _owner; // also clears a physical transaction Bind set
            }
            catch (ObjectDisposedException)
            {
                // Its owner disposed it already: it references nothing any more.
            }
        }
    }

    /// <summary>The statement is over: the command is its owner's again and this runner is idle.</summary>
    public void Finish()
    {
        Restore();
        _command = _running = null; // a replacement is simply dropped: it holds nothing but its parameters
        _owner = null;
        _connection = null;
    }

    private static SqlClassification Classify(PgRoutingDataSource ds, NpgsqlCommand command) => command.CommandType switch
    {
        CommandType.Text => ds.Classifier.Classify(command.CommandText),
        CommandType.TableDirect => StatementClassifications.TableRead,
        _ => StatementClassifications.Procedure,
    };

    // A single write that is not transaction control; whether the session wants its position is asked as it runs.
    private static bool PositionsReader(SqlClassification c, Routing.StatementRoute route)
        => route.Kind == StatementKind.Write && c.Kind != StatementKind.TransactionControl && c.StatementCount == 1;

    (SqlClassification, Routing.StatementRoute) IRoutedStatement.Plan(RoutingConnection connection)
    {
        var c = Classify(connection.DataSourceInternal, _running!);
        var route = connection.DataSourceInternal.Router.Route(c);
        _positionsReader &= PositionsReader(c, route);
        return (c, route);
    }

    void IRoutedStatement.Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        _rewrite?.Unposition(_running!); // a reader attempt that failed before the re-run
        _running!.Connection = connection;
        _running.Transaction = transaction;
    }

    // The owner's command stays with the hung server (the owner disposes it in time); a copy runs the statement again.
    void IRoutedStatement.ReplaceAbandoned()
    {
        _running = AbandonedCommand.Replacement(_running!, _rewrite?.Abandon());
        Abandoned = true;
    }

    bool IRoutedStatement.CanGuard => CommandRewrite.CanRewrite(_running!, prepareRequested: false);

    void IRoutedStatement.Guard(string guardSql) => (_rewrite ??= new()).Guard(_running!, guardSql);

    void IRoutedStatement.Unguard() => _rewrite?.Unguard(_running);

    NpgsqlBatch? IRoutedStatement.Positioned(NpgsqlConnection connection, int statementCount, string? state)
        => (_rewrite ??= new()).Positioned(_running!, connection, statementCount, prepareRequested: false, state);

    bool IRoutedStatement.CanCarryStateIntoWrite(SqlClassification c) => c.IsPlainDml && CommandRewrite.CanPosition(_running!, c.StatementCount, prepareRequested: false);

    void IRoutedStatement.Unposition() => _rewrite?.Unposition(_running!);

    ulong IRoutedStatement.ReaderCommitLsn => _readerCommitLsn;

    // A write read through a reader, run positioned: its reader's last result is the position (ReadCommitPositionAsync).
    private NpgsqlBatch? PositionedReader()
        => _positionsReader && _connection!.WantsExternalCommitPosition()
            ? (_rewrite ??= new()).Positioned(_running!, _running!.Connection!, 1, prepareRequested: false)
            : null;

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken) => default;

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken)
        => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteNonQueryAsync(cancellationToken) : _running!.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteNonQuery() : _running!.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken)
        => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteScalarAsync(cancellationToken) : _running!.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteScalar() : _running!.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
        => PositionedReader() is { } positioned ? positioned.ExecuteReaderAsync(behavior, cancellationToken)
            : _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteReaderAsync(behavior, cancellationToken)
            : _running!.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior)
        => PositionedReader() is { } positioned ? positioned.ExecuteReader(behavior)
            : _rewrite is { RunGuarded: true } r ? r.Guarded.ExecuteReader(behavior)
            : _running!.ExecuteReader(behavior);
}
