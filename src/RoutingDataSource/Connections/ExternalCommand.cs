using System.Data;
using Npgsql;
using RoutingDataSource.Classification;

namespace RoutingDataSource.Connections;

/// <summary>
/// Runs an <see cref="NpgsqlCommand"/> that belongs to someone else (EF Core's, made on its own connection) through a
/// routing connection: the command is classified and routed like a <see cref="RoutingCommand"/>, bound to the chosen
/// physical connection for the statement, and handed back to its owner's connection afterwards
/// (<see cref="Restore"/>). One object serves one statement at a time; its reader is reused.
/// </summary>
internal sealed class ExternalCommand : IRoutedStatement
{
    private NpgsqlCommand? _command; // the owner's
    private NpgsqlCommand? _running; // what runs: the owner's, or a replacement after it was abandoned
    private NpgsqlConnection? _owner;
    private RoutingDataReader? _reader;

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
            return RoutedExecution.ExecuteAsync<TResult>(this, conn, c, route, 1, mode, CommandBehavior.Default, async, cancellationToken);
        }
        catch (Exception e) when (async)
        {
            return ValueTask.FromException<TResult>(e);
        }
    }

    /// <summary>Gives the command back to its owner's connection, once its statement or reader is done.</summary>
    public void Restore()
    {
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
    }

    private static SqlClassification Classify(PgRoutingDataSource ds, NpgsqlCommand command) => command.CommandType switch
    {
        CommandType.Text => ds.Classifier.Classify(command.CommandText),
        CommandType.TableDirect => StatementClassifications.TableRead,
        _ => StatementClassifications.Procedure,
    };

    (SqlClassification, Routing.StatementRoute) IRoutedStatement.Plan(RoutingConnection connection)
    {
        var c = Classify(connection.DataSourceInternal, _running!);
        return (c, connection.DataSourceInternal.Router.Route(c));
    }

    void IRoutedStatement.Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        _running!.Connection = connection;
        _running.Transaction = transaction;
    }

    // The owner's command stays with the hung server (the owner disposes it in time); a copy runs the statement again.
    void IRoutedStatement.ReplaceAbandoned()
    {
        _running = AbandonedCommand.Replacement(_running!);
        Abandoned = true;
    }

    // Not yet for someone else's command: its reads that must see a write go to a standby already known to be past it
    // (or the primary), and its writes take their position from the next probe sample.
    bool IRoutedStatement.CanGuard => false;

    void IRoutedStatement.Guard(string guardSql) => throw new InvalidOperationException("An external command takes no read guard.");

    void IRoutedStatement.Unguard()
    {
    }

    NpgsqlBatch? IRoutedStatement.Positioned(NpgsqlConnection connection, int statementCount) => null;

    void IRoutedStatement.Unposition()
    {
    }

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken) => default;

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken) => _running!.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _running!.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken) => _running!.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _running!.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken) => _running!.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior) => _running!.ExecuteReader(behavior);
}
