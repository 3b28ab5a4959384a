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

    /// <summary>Whether a read guard (<see cref="ReadGuard"/>) can be put before the statement in the same round trip.</summary>
    bool CanGuard { get; }

    /// <summary>
    /// Puts <paramref name="guardSql"/>, one statement (a read guard, the session state a standby session lacks, or
    /// both, see <see cref="ReadGuard"/>), before the statement (only when <see cref="CanGuard"/>).
    /// </summary>
    void Guard(string guardSql);

    /// <summary>Takes the guard away again (nothing when there is none); for a reader, once it is closed.</summary>
    void Unguard();

    /// <summary>
    /// The statement as a batch that also reads its commit position (see <see cref="CommitPosition"/>), bound to
    /// <paramref name="connection"/>; null when it cannot be run that way. With <paramref name="state"/>, the session state
    /// the primary session lacks (one statement, see <see cref="ReadGuard.StateBeforeWrite"/>) runs first, in the write's implicit
    /// transaction. Undo with <see cref="Unposition"/>.
    /// </summary>
    NpgsqlBatch? Positioned(NpgsqlConnection connection, int statementCount, string? state);

    /// <summary>
    /// Whether <see cref="Positioned"/> can run the statement (classified as <paramref name="c"/>) with session state in
    /// front of it: it can be positioned, and what runs first is plain DML (see <see cref="SqlClassification.IsPlainDml"/>).
    /// </summary>
    bool CanCarryStateIntoWrite(SqlClassification c);

    /// <summary>Gives back what <see cref="Positioned"/> borrowed (the parameters).</summary>
    void Unposition();

    /// <summary>
    /// The commit position a write read through a reader brought back in its own round trip (0: none), taken when its
    /// reader is finished. Only <see cref="ExternalCommand"/> runs such writes positioned.
    /// </summary>
    ulong ReaderCommitLsn => 0;

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
