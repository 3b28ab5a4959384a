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
    private NpgsqlCommand? _command;
    private NpgsqlConnection? _owner;
    private RoutingDataReader? _reader;

    /// <summary>The command it runs now, or null when idle.</summary>
    public NpgsqlCommand? Command => _command;

    /// <summary>The statement was left running on a hung server: its command must not be touched any more.</summary>
    public bool Abandoned { get; private set; }

    /// <summary>The routing reader of the last reader statement (its Npgsql reader is what the owner reads).</summary>
    public RoutingDataReader Reader => _reader ??= new RoutingDataReader();

    public void Start(NpgsqlCommand command)
    {
        _command = command;
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
        if (_command is { } command && !Abandoned && !ReferenceEquals(command.Connection, _owner))
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
        _command = null;
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
        var c = Classify(connection.DataSourceInternal, _command!);
        return (c, connection.DataSourceInternal.Router.Route(c));
    }

    void IRoutedStatement.Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        _command!.Connection = connection;
        _command.Transaction = transaction;
    }

    // The owner's command stays with the hung server; the owner disposes it in time. Nothing here runs it again.
    void IRoutedStatement.ReplaceAbandoned() => Abandoned = true;

    ValueTask IRoutedStatement.PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken) => default;

    Task<int> IRoutedStatement.ExecuteNonQueryAsync(CancellationToken cancellationToken) => _command!.ExecuteNonQueryAsync(cancellationToken);

    int IRoutedStatement.ExecuteNonQuery() => _command!.ExecuteNonQuery();

    Task<object?> IRoutedStatement.ExecuteScalarAsync(CancellationToken cancellationToken) => _command!.ExecuteScalarAsync(cancellationToken);

    object? IRoutedStatement.ExecuteScalar() => _command!.ExecuteScalar();

    Task<NpgsqlDataReader> IRoutedStatement.ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken) => _command!.ExecuteReaderAsync(behavior, cancellationToken);

    NpgsqlDataReader IRoutedStatement.ExecuteReader(CommandBehavior behavior) => _command!.ExecuteReader(behavior);
}
