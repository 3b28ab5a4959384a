namespace RoutingDataSource;

/// <summary>
/// Where a statement may run, as decided from its text (see DESIGN.md, "Routing rules").
/// </summary>
/// <remarks>
/// When one command text holds several statements, the strongest kind wins. From weakest to
/// strongest: <see cref="Read"/> &lt; <see cref="TransactionControl"/> &lt; <see cref="Write"/>
/// &lt; <see cref="SessionState"/>. The order means "how much the text constrains the router":
/// a read can go anywhere; transaction control follows the transaction; a write needs the primary;
/// session state needs the primary and keeps the logical connection pinned to it.
/// A text that mixes transaction control with a write is therefore a <see cref="Write"/>, and
/// <see cref="SqlClassification.TransactionControl"/> still says what it does to the transaction.
/// </remarks>
public enum StatementKind
{
    /// <summary>Only reads: may be served by an eligible standby.</summary>
    Read,

    /// <summary>Writes, or is not understood: must run on the primary.</summary>
    Write,

    /// <summary>Creates or changes session state: runs on the primary and pins the logical connection to it.</summary>
    SessionState,

    /// <summary>Begins, ends or changes a transaction (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION ...).</summary>
    TransactionControl,
}
