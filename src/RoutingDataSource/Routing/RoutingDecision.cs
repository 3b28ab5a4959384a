namespace RoutingDataSource.Routing;

/// <summary>What the connection does with a statement.</summary>
internal enum SessionAction : byte
{
    /// <summary>Run it on <see cref="RoutingDecision.Target"/>.</summary>
    Run,

    /// <summary>Nothing to send: a lone BEGIN is deferred, or a deferred, still empty transaction ends.</summary>
    Consume,

    /// <summary>A lone SQL COMMIT of the pinned SQL transaction: committed the way the API commits (never cancelled).</summary>
    CommitPinned,
}

/// <summary>Which server runs the statement.</summary>
internal enum RoutingTarget : byte
{
    /// <summary>The physical connection the session is pinned to.</summary>
    Pinned,

    /// <summary>The write target (waiting for one during a failover).</summary>
    Primary,

    /// <summary>An eligible standby chosen by the balancer, caught up with <see cref="RoutingDecision.RequiredLsn"/>; else the primary.</summary>
    Standby,
}

/// <summary>How the transaction begun before this statement is started on the server the decision binds it to.</summary>
internal enum TransactionBind : byte
{
    /// <summary>No pending transaction to bind.</summary>
    None,

    /// <summary>An API transaction: <c>BeginTransaction(isolation)</c> on the physical connection.</summary>
    Api,

    /// <summary>A deferred SQL <c>BEGIN</c>: its own text is sent first.</summary>
    Sql,
}

/// <summary>
/// The session router's answer for one statement: what to do, where, how to bind a pending transaction, and the
/// session state once the statement has its physical connection.
/// </summary>
/// <param name="Action">Run, consume or commit.</param>
/// <param name="Target">Where it runs (for <see cref="SessionAction.Run"/>).</param>
/// <param name="Next">The session state after the statement has been given its physical connection.</param>
/// <param name="Bind">The pending transaction to start on the chosen server first.</param>
/// <param name="ReadOnlyOnPrimary">When the chosen server is the primary, send <c>SET TRANSACTION READ ONLY</c> after binding.</param>
/// <param name="PinAfter">Keep the physical connection for the session afterwards (as <see cref="SessionState.Pin"/> of <paramref name="Next"/> says).</param>
/// <param name="KeepPrimarySession">A write outside a pin: keep that primary session for the connection's next writes.</param>
/// <param name="KeepStandbySession">Session state set on a standby (<see cref="SessionRouter.SetsOnStandby"/>): keep that
/// standby session for the connection's reads, which then find the state there (the primary session, should it run
/// it instead).</param>
/// <param name="RequiredLsn">The replay position a standby must have reached to serve it (see <see cref="ReadRequirement"/>).</param>
internal readonly record struct RoutingDecision(
    SessionAction Action,
    RoutingTarget Target,
    SessionState Next,
    TransactionBind Bind = TransactionBind.None,
    bool ReadOnlyOnPrimary = false,
    bool PinAfter = false,
    bool KeepPrimarySession = false,
    ulong RequiredLsn = 0,
    bool KeepStandbySession = false);
