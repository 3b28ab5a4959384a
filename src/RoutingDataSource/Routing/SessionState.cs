using System.Data;

namespace RoutingDataSource.Routing;

/// <summary>
/// What a logical connection's routing depends on between statements, as one immutable value: why it is pinned, where
/// its transaction is, how a pending transaction was begun, and what its reads must see. The physical connections it
/// holds are not part of it: the connection carries those and follows the state <see cref="SessionRouter"/> returns.
/// </summary>
internal readonly record struct SessionState
{
    /// <summary>A closed or fresh connection: not pinned, no transaction, no writes to see.</summary>
    public static readonly SessionState Initial = default;

    /// <summary>Why the connection holds one physical connection between statements.</summary>
    public PinReason Pin { get; init; }

    /// <summary>Autocommit, a transaction begun but not yet bound to a server, or one bound to the pinned server.</summary>
    public TransactionPhase Transaction { get; init; }

    /// <summary>The transaction was begun through the API (BeginTransaction, BeginReadOnlyTransactionAsync), not by SQL.</summary>
    public bool ApiTransaction { get; init; }

    /// <summary>The pending transaction was declared read-only (<c>BEGIN READ ONLY</c> or the read-only API).</summary>
    public bool ReadOnlyRequested { get; init; }

    /// <summary>The bound transaction was sent to a server for reads only (a read-only transaction): session state set in it ends with it.</summary>
    public bool ReadOnlyTransaction { get; init; }

    /// <summary>The isolation level of a pending API transaction.</summary>
    public IsolationLevel Isolation { get; init; }

    /// <summary>The SQL text of a deferred <c>BEGIN</c>, sent when the transaction is bound.</summary>
    public string? PendingBegin { get; init; }

    /// <summary>A statement of the current transaction wrote: its COMMIT is a write for read-your-writes.</summary>
    public bool TransactionWrote { get; init; }

    /// <summary>TimeProvider timestamp of the connection's last acknowledged write (0: none).</summary>
    public long LastWrite { get; init; }

    /// <summary>
    /// The WAL position at or past the commit record of the connection's last write, read in the write's own round trip
    /// (0: that write's position is not known; <see cref="LastWrite"/> then stands for it, see <see cref="ReadRequirement"/>).
    /// </summary>
    public ulong WriteLsn { get; init; }

    /// <summary>From a causality token: reads need at least this replay position (0: none).</summary>
    public ulong TokenLsn { get; init; }

    /// <summary>
    /// TimeProvider timestamp at which the latest causality token was presented: its position cannot be past the
    /// primary's insert position at that moment, which bounds a forged one (see <see cref="ReadRequirement"/>).
    /// </summary>
    public long TokenAt { get; init; }

    /// <summary>Whether a transaction (pending or bound) is open.</summary>
    public bool InTransaction => Transaction != TransactionPhase.None;
}
