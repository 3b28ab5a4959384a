using System.Data;
using Npgsql;

namespace RoutingDataSource.Connections;

/// <summary>
/// What <see cref="RoutedExecution"/> needs from a routed command or batch: run its Npgsql counterpart on the
/// physical connection the router chose.
/// </summary>
internal interface IRoutedStatement
{
    void Bind(NpgsqlConnection connection, NpgsqlTransaction? transaction);

    ValueTask PrepareIfRequestedAsync(bool async, CancellationToken cancellationToken);

    ValueTask<int> ExecuteNonQueryAsync(bool async, CancellationToken cancellationToken);

    ValueTask<object?> ExecuteScalarAsync(bool async, CancellationToken cancellationToken);

    ValueTask<NpgsqlDataReader> ExecuteReaderAsync(CommandBehavior behavior, bool async, CancellationToken cancellationToken);

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
