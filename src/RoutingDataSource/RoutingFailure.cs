namespace RoutingDataSource;

/// <summary>Why a <see cref="RoutingException"/> was raised, and so what the caller can do about it.</summary>
public enum RoutingFailure
{
    /// <summary>No writable primary appeared within <see cref="RoutingOptions.FailoverTimeout"/>. Nothing was sent; retrying later may succeed.</summary>
    NoPrimary,

    /// <summary>Two servers claim to be primary on the same timeline (split brain). Writes fail fast until an operator resolves it.</summary>
    TwoPrimaries,

    /// <summary>
    /// The server was lost while a write was in flight: it may or may not have committed
    /// (<see cref="RoutingException.MayHaveCommitted"/>). Check before re-running it, or use an idempotent unit with
    /// <see cref="PgRoutingDataSource.ExecuteAsync(Func{RoutingConnection, CancellationToken, Task}, CancellationToken)"/>.
    /// </summary>
    ConnectionLost,

    /// <summary>The server holding this connection's transaction was lost; the transaction is gone (rolled back). Re-run the whole unit.</summary>
    TransactionLost,

    /// <summary>The server holding this connection's session state (SET, temp tables, prepared statements) was lost; re-create it.</summary>
    SessionLost,

    /// <summary>Safe retries (reads, connection attempts) kept failing until <see cref="RoutingOptions.FailoverTimeout"/>.</summary>
    RetriesExhausted,

    /// <summary>
    /// A standby refused a statement of a read-only transaction for a reason tied to recovery (an unlogged table, a
    /// function that cannot run during recovery, a conflict with WAL replay). The transaction is aborted: roll it back
    /// and run the statement outside it or in a read-write transaction, which runs on the primary. Also raised by a
    /// reader whose read a standby cancelled (a replay conflict) after some of its rows had reached the caller: the
    /// results are incomplete; re-run the statement.
    /// </summary>
    RefusedByStandby,

    /// <summary>
    /// With <see cref="RoutingOptions.PrimaryServesReads"/> = <see cref="PrimaryReadMode.Never"/>: no standby could serve
    /// the read within <see cref="RoutingOptions.FailoverTimeout"/> (all down, lagging or behind the session's writes).
    /// Nothing was sent; retrying later may succeed.
    /// </summary>
    NoStandby,

    /// <summary>
    /// No writable primary, and every server that could be it rejects the configured connection for a reason that does
    /// not pass by itself: wrong password (28P01), login refused (28000), unknown database (3D000) or unknown host.
    /// Raised at once, not after <see cref="RoutingOptions.FailoverTimeout"/>; <see cref="RoutingException.IsTransient"/> is
    /// false. Fix the backend's connection string (or the server's roles and <c>pg_hba.conf</c>).
    /// </summary>
    Misconfigured,
}
