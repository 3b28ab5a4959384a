using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>What the session router knows of one statement: its classification, its route outside a session, and how it is run.</summary>
/// <param name="Classification">The classifier's verdict on the text.</param>
/// <param name="Route">The <see cref="Router"/>'s verdict (functions resolved, hints applied).</param>
/// <param name="Deferrable">
/// Run for its row count only (not a reader), so a lone transaction-control statement may be answered without a server.
/// </param>
/// <param name="Text">The SQL text, kept when a BEGIN is deferred (sent as written when the transaction is bound).</param>
/// <param name="HoldsTemporary">
/// The session holds temporary objects: a read-only transaction then stays in the primary session, where any of its
/// statements may use them (a standby session has none).
/// </param>
internal readonly record struct StatementFacts(SqlClassification Classification, StatementRoute Route, bool Deferrable = false, string? Text = null,
    bool HoldsTemporary = false)
{
    /// <summary>A single <c>BEGIN</c> / <c>START TRANSACTION</c> (possibly <c>READ ONLY</c>).</summary>
    public bool IsLoneBegin => IsBegin && Classification.StatementCount == 1;

    /// <summary>The text begins a transaction (alone or with other statements).</summary>
    public bool IsBegin => Classification is { Kind: StatementKind.TransactionControl, TransactionControl: TransactionControlKind.Begin };
}
