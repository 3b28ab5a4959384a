using System.Data;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Connections;

/// <summary>
/// What <see cref="RoutedExecution"/> needs from a routed command or batch: run its Npgsql counterpart on the
/// physical connection the router chose.
/// </summary>
internal interface IRoutedStatement
{
    /// <summary>Classifies and routes the statement afresh (once the one-time function-volatility load is in).</summary>
    (SqlClassification Classification, StatementRoute Route) Plan(RoutingConnection connection);

    void Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction);

    /// <summary>
    /// The Npgsql command or batch was abandoned with its statement on a hung server: use a new one from now on, with
    /// the same text, settings and parameters.
    /// </summary>
    void ReplaceAbandoned();

    ValueTask PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken);

    // Async variants hand back Npgsql's own task, so the caller can stop waiting for it (abandon a hung server)
    // without asking Npgsql to cancel, which would itself block on that server.
    Task<int> ExecuteNonQueryAsync(CancellationToken cancellationToken);

    int ExecuteNonQuery();

    Task<object?> ExecuteScalarAsync(CancellationToken cancellationToken);

    object? ExecuteScalar();

    Task<NpgsqlDataReader> ExecuteReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken);

    NpgsqlDataReader ExecuteReader(CommandBehavior behavior);

    /// <summary>The reader object this statement reuses across executions.</summary>
    RoutingDataReader Reader { get; }
}

/// <summary>Which ADO.NET execute method was called.</summary>
internal enum ExecuteMode : byte
{
    NonQuery,
    Scalar,
    Reader,
}
