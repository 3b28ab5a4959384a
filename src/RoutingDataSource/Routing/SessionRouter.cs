using System.Data;
using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>
/// The session engine of a logical connection as pure functions of (statement, session state): which role of
/// server each statement runs on (the pinned one, the primary, or a standby that <see cref="BackendSelector"/> picks
/// from the cluster snapshot), when the session pins a server and lets it go, and how a transaction is begun, bound
/// to one server and ended. Every transition of <see cref="SessionState"/> is here; the connection only holds the
/// physical connections and does what the decision says. No I/O, no clock, no allocation.
/// </summary>
internal static class SessionRouter
{
    /// <summary>Decides what the connection does with one statement, and the state once it has its physical connection.</summary>
    public static RoutingDecision Decide(in StatementFacts statement, in SessionState state)
    {
        var c = statement.Classification;
        var route = statement.Route;
        if (statement.Deferrable && c.Kind == StatementKind.TransactionControl && c.StatementCount == 1)
        {
            switch (c.TransactionControl)
            {
                // A lone BEGIN waits for the next statement, which binds the transaction: a following
                // SET TRANSACTION READ ONLY may send it to a standby.
                case TransactionControlKind.Begin when state.Transaction == TransactionPhase.None && state.Pin == PinReason.None:
                    return new RoutingDecision(SessionAction.Consume, RoutingTarget.Pinned, state with
                    {
                        Transaction = TransactionPhase.Pending,
                        ApiTransaction = false,
                        ReadOnlyRequested = c.IsReadOnlyTransactionStart,
                        Isolation = IsolationLevel.Unspecified,
                        PendingBegin = statement.Text,
                    });
                // COMMIT/ROLLBACK of a deferred, still empty transaction: nothing to send. With AND CHAIN the
                // transaction simply stays pending.
                case TransactionControlKind.Commit or TransactionControlKind.Rollback
                    when state.Transaction == TransactionPhase.Pending && !state.ApiTransaction:
                    return new RoutingDecision(SessionAction.Consume, RoutingTarget.Pinned, c.ChainsTransaction ? state : EndTransaction(state));
                case TransactionControlKind.Commit
                    when !c.ChainsTransaction && state.Transaction == TransactionPhase.Active && !state.ApiTransaction && state.Pin != PinReason.None:
                    return new RoutingDecision(SessionAction.CommitPinned, RoutingTarget.Pinned, EndTransaction(state));
            }
        }

        if (state.Pin != PinReason.None)
        {
            var next = state;
            // SET inside a read-write transaction outlives the COMMIT; inside a read-only one it ends with it (README,
            // Known limits), and the session is not left pinned to a standby.
            if (route.Kind == StatementKind.SessionState && !IsModelled(c) && state.Pin == PinReason.Transaction && !state.ReadOnlyTransaction)
                next = next with { Pin = PinReason.Session };
            if (statement.IsLoneBegin && state.Transaction == TransactionPhase.None)
                next = next with { Transaction = TransactionPhase.Active };
            return new RoutingDecision(SessionAction.Run, RoutingTarget.Pinned, next);
        }

        if (state.Transaction == TransactionPhase.Pending)
            return Bind(c, route, state, statement.HoldsTemporary);

        // Autocommit, not pinned: reads (and a lone BEGIN READ ONLY, unless the session holds temporary objects) to a
        // standby, the rest to the primary.
        var target = route.StandbyAllowed || (statement.IsLoneBegin && c.IsReadOnlyTransactionStart && !statement.HoldsTemporary)
            ? RoutingTarget.Standby : RoutingTarget.Primary;
        var pinAfter = (route.Kind == StatementKind.SessionState && !IsModelled(c))
            || (c.Kind == StatementKind.TransactionControl && (c.StatementCount > 1 || statement.IsBegin));
        if (!pinAfter)
            return new RoutingDecision(SessionAction.Run, target, state,
                KeepPrimarySession: route.Kind != StatementKind.Read && target == RoutingTarget.Primary,
                KeepStandbySession: route.Kind == StatementKind.SessionState && target == RoutingTarget.Standby);
        var pinned = statement.IsLoneBegin
            ? state with { Pin = PinReason.Transaction, Transaction = TransactionPhase.Active, ReadOnlyTransaction = target == RoutingTarget.Standby }
            : state with { Pin = PinReason.Session };
        return new RoutingDecision(SessionAction.Run, target, pinned, PinAfter: true);
    }

    /// <summary>
    /// Session state the router models (<see cref="SessionMemory"/>): it runs on the connection's primary session and
    /// pins nothing; reads keep going to standbys, with the state that travels replayed there. Anything else that
    /// leaves session state pins the connection to one primary session, as it always did.
    /// </summary>
    public static bool IsModelled(SqlClassification c) => c.Session.Effect is not (SessionEffect.None or SessionEffect.Pins);

    /// <summary>
    /// Whether the session state a statement leaves is set on a standby session first: a parameter or identity change
    /// (<c>SET</c>, <c>RESET</c>, <c>RESET ALL</c>, <c>SET ROLE</c>, <c>SET SESSION AUTHORIZATION</c> and their resets),
    /// alone, in autocommit, unpinned, unless it stays on the primary anyway (<paramref name="staysOnPrimary"/>: the
    /// connection holds a primary session, having written since it opened, or standbys may not be waited for). Its reads
    /// then find the state on that standby session with nothing replayed, and the primary session gets it only when the
    /// connection writes. A standby that refuses it passes it to the primary, whose answer stands.
    /// </summary>
    public static bool SetsOnStandby(SqlClassification c, in StatementRoute route, in SessionState state, bool staysOnPrimary)
        => route.Kind == StatementKind.SessionState && c.StatementCount == 1 && c.Hint != RouteHint.Primary && !staysOnPrimary
            && c.Session.Effect is SessionEffect.Set or SessionEffect.Reset or SessionEffect.ResetAll or SessionEffect.Identity
            && !state.InTransaction && state.Pin == PinReason.None;

    /// <summary>
    /// The route of a statement in a session with the state <paramref name="memory"/> holds: a read of what lives in the
    /// primary session only (a temporary table, <c>currval</c>, an advisory unlock, a held cursor) goes there; the
    /// <c>EXECUTE</c> of a statement this session prepared as a read goes to a standby; session state that
    /// <see cref="SetsOnStandby"/> is set on a standby session. Everything else as routed.
    /// </summary>
    public static StatementRoute Refine(SqlClassification c, in StatementRoute route, SessionMemory? memory, in SessionState state, bool staysOnPrimary)
    {
        if (SetsOnStandby(c, route, state, staysOnPrimary))
            return route with { StandbyAllowed = true, Reason = "session state, set on a standby session first (no primary session yet)" };
        return RefineForMemory(c, route, memory);
    }

    private static StatementRoute RefineForMemory(SqlClassification c, in StatementRoute route, SessionMemory? memory)
    {
        if (c.Session.Effect == SessionEffect.PrimarySessionRead)
            return new StatementRoute(StatementKind.Read, false, "reads state of the primary session");
        if (memory is null)
            return route;
        if (route.StandbyAllowed && memory.TouchesTemporary(c))
            return route with { StandbyAllowed = false, Reason = "reads a temporary table of the session" };
        if (c is { ExecutedStatementName: { } name, StatementCount: 1, Kind: StatementKind.Write, Functions.Count: 0 } && c.Hint != RouteHint.Primary
            && memory.PreparedRunsOnStandby(name) == true)
            return new StatementRoute(StatementKind.Read, true, "EXECUTE of a prepared read");
        return route;
    }

    /// <summary>
    /// After a statement ran: what it left in the session goes into <paramref name="memory"/> (made on the first such
    /// statement). <paramref name="preparedReadRunsOnStandby"/> says whether the body of a PREPARE may run on a standby.
    /// </summary>
    public static MemoryOutcome Remember(SqlClassification c, bool inTransaction, bool preparedReadRunsOnStandby, ref SessionMemory? memory)
    {
        if (c.Kind == StatementKind.TransactionControl)
        {
            if (memory is null || c.StatementCount != 1)
                return MemoryOutcome.None;
            switch (c.TransactionControl)
            {
                case TransactionControlKind.RollbackToSavepoint:
                    memory.SavepointRolledBack();
                    break;
                case TransactionControlKind.Commit:
                    return memory.CommitTransaction() ? MemoryOutcome.Committed : MemoryOutcome.PinsAtCommit;
                case TransactionControlKind.Rollback:
                    memory.DiscardTransaction();
                    break;
            }
            return MemoryOutcome.None;
        }
        if (!IsModelled(c))
        {
            if (c.Session.CreatedName is not null && memory is { HasTemporary: true })
                memory.NoteCreated(c);
            return MemoryOutcome.None;
        }
        if (c.Session.Effect == SessionEffect.PrimarySessionRead)
            return MemoryOutcome.None;
        memory ??= new SessionMemory();
        var standbySafe = c.Session.Effect == SessionEffect.Prepare && c.PreparedStatementKind == StatementKind.Read
            && preparedReadRunsOnStandby && !memory.TouchesTemporary(c);
        memory.Record(c.Session, c.Text ?? "", standbySafe, inTransaction);
        return MemoryOutcome.Recorded;
    }

    /// <summary>
    /// The first statement of a pending transaction binds it: to a standby when it was declared read-only (by its
    /// BEGIN, the read-only API, or this statement being <c>SET TRANSACTION READ ONLY</c>), the session holds no
    /// temporary objects and a standby may run this statement, else to the primary.
    /// </summary>
    private static RoutingDecision Bind(SqlClassification first, in StatementRoute route, in SessionState state, bool holdsTemporary)
    {
        var setsReadOnly = first is { Kind: StatementKind.TransactionControl, TransactionControl: TransactionControlKind.SetTransaction, IsReadOnlyTransactionStart: true };
        // A first statement a standby cannot run (a function that writes, such as lo_creat, which PostgreSQL allows in
        // a read-only transaction on the primary; one whose volatility is not known) binds the transaction to the
        // primary, read-only there.
        var standbyCannot = route.Kind is StatementKind.Read or StatementKind.Write && !route.StandbyAllowed;
        var target = (state.ReadOnlyRequested || setsReadOnly) && !holdsTemporary && !standbyCannot ? RoutingTarget.Standby : RoutingTarget.Primary;
        // On a standby every transaction is read-only already; on the primary the promise is made to hold, unless the
        // first statement says it itself.
        var readOnlyOnPrimary = state.ReadOnlyRequested && (state.ApiTransaction || !first.IsReadOnlyTransactionStart);
        // A SET as the first statement of a read-write transaction outlives the COMMIT, as one later in it does. In a
        // read-only transaction it lives on the standby only until the transaction ends (README, Known limits).
        var pin = route.Kind == StatementKind.SessionState && !IsModelled(first) && target == RoutingTarget.Primary ? PinReason.Session : PinReason.Transaction;
        return new RoutingDecision(SessionAction.Run, target,
            state with { Pin = pin, Transaction = TransactionPhase.Active, ReadOnlyTransaction = target == RoutingTarget.Standby },
            state.ApiTransaction ? TransactionBind.Api : TransactionBind.Sql, readOnlyOnPrimary, PinAfter: true);
    }

    /// <summary>
    /// <c>BeginTransaction</c> / <c>BeginReadOnlyTransactionAsync</c>: pending until its first statement binds it,
    /// or begun at once on the pinned server. Null when a transaction is already open (no nesting).
    /// </summary>
    public static SessionState? BeginApiTransaction(in SessionState state, IsolationLevel isolation, bool readOnly)
    {
        if (state.InTransaction)
            return null;
        return state with
        {
            Transaction = state.Pin != PinReason.None ? TransactionPhase.Active : TransactionPhase.Pending,
            ApiTransaction = true,
            ReadOnlyRequested = readOnly,
            Isolation = isolation,
            PendingBegin = null,
        };
    }

    /// <summary>Whether <paramref name="state"/> says an API transaction is to be begun at once on the pinned server.</summary>
    public static bool BeginsOnPinned(in SessionState state) => state is { ApiTransaction: true, Transaction: TransactionPhase.Active };

    /// <summary>
    /// After a statement ran: writes outside a transaction count for read-your-writes at once, a transaction's only at
    /// its COMMIT; a lone SQL COMMIT/ROLLBACK of the session's SQL transaction ends it (AND CHAIN starts the next one).
    /// </summary>
    public static StatementOutcome AfterStatement(in StatementFacts statement, in SessionState state)
    {
        var c = statement.Classification;
        var wrote = statement.Route.Kind != StatementKind.Read && !(statement.Route.Kind == StatementKind.SessionState && IsModelled(c));
        if (!state.InTransaction)
            return new StatementOutcome(state, MarkWrite: wrote);
        // PREPARE TRANSACTION: the transaction is no longer the session's (COMMIT PREPARED, a write of its own, makes
        // its writes count); a failed one was rolled back (see PreparedTransactionFailed).
        if (c.EndsTransaction && state.Transaction == TransactionPhase.Active && !state.ApiTransaction)
            return new StatementOutcome(EndTransaction(state), MarkWrite: false, EndsTransaction: true);
        if (c is { Kind: StatementKind.TransactionControl, StatementCount: 1, TransactionControl: TransactionControlKind.Commit or TransactionControlKind.Rollback }
            && state.Transaction == TransactionPhase.Active && !state.ApiTransaction)
        {
            var marks = c.TransactionControl == TransactionControlKind.Commit && state.TransactionWrote;
            return c.ChainsTransaction
                ? new StatementOutcome(state with { TransactionWrote = false }, marks)
                : new StatementOutcome(EndTransaction(state), marks, EndsTransaction: true);
        }
        if (wrote && c.Kind != StatementKind.TransactionControl)
            return new StatementOutcome(state with { TransactionWrote = true }, MarkWrite: false);
        return new StatementOutcome(state, MarkWrite: false);
    }

    /// <summary>The transaction ended (COMMIT, ROLLBACK, or it was lost): a pin it made is released.</summary>
    public static SessionState EndTransaction(in SessionState state) => state with
    {
        Transaction = TransactionPhase.None,
        ApiTransaction = false,
        ReadOnlyTransaction = false,
        TransactionWrote = false,
        PendingBegin = null,
        Pin = state.Pin == PinReason.Transaction ? PinReason.None : state.Pin,
    };

    /// <summary>The pinned server was lost: its transaction and session state with it; the next statement starts clean.</summary>
    public static SessionState PinnedLost(in SessionState state) => EndTransaction(state) with { Pin = PinReason.None };

    /// <summary>The pinned physical connection was dropped without a word to the server (abandoned or discarded): the session routes as unpinned.</summary>
    public static SessionState PinDropped(in SessionState state) => state with { Pin = PinReason.None };

    /// <summary>The escape hatch to a physical connection (or schema work that needs it) keeps the session there until it closes.</summary>
    public static SessionState PinnedForSession(in SessionState state) => state with { Pin = PinReason.Session };

    /// <summary>Closing the logical connection lets go of everything but what its reads must see.</summary>
    public static SessionState Closed(in SessionState state) => SessionState.Initial with { LastWrite = state.LastWrite, WriteLsn = state.WriteLsn, TokenLsn = state.TokenLsn, TokenAt = state.TokenAt };

    /// <summary>
    /// A write acknowledged at <paramref name="timestamp"/>, its commit position <paramref name="lsn"/> (0: not known).
    /// Statements of a connection run one after another, so a known position covers every earlier write too.
    /// </summary>
    public static SessionState Wrote(in SessionState state, long timestamp, ulong lsn) => state with { LastWrite = timestamp, WriteLsn = lsn };

    /// <summary>A causality token presented at <paramref name="timestamp"/>: reads need at least <paramref name="lsn"/>.</summary>
    public static SessionState RequireAtLeast(in SessionState state, ulong lsn, long timestamp)
        => state with { TokenLsn = Math.Max(state.TokenLsn, lsn), TokenAt = Math.Max(state.TokenAt, timestamp) };
}

/// <summary>What <see cref="SessionRouter.Remember"/> did with a finished statement.</summary>
internal enum MemoryOutcome : byte
{
    /// <summary>Nothing to remember.</summary>
    None,

    /// <summary>A change was remembered.</summary>
    Recorded,

    /// <summary>A COMMIT made the transaction's parameter changes count.</summary>
    Committed,

    /// <summary>A COMMIT of parameter changes a savepoint rollback hid: the session pins to the transaction's server.</summary>
    PinsAtCommit,
}

/// <summary>What a finished statement means for the session.</summary>
/// <param name="Next">The session state from now on.</param>
/// <param name="MarkWrite">Remember a write now (read-your-writes).</param>
/// <param name="EndsTransaction">The transaction ended: dispose it, release a pin it made.</param>
internal readonly record struct StatementOutcome(SessionState Next, bool MarkWrite, bool EndsTransaction = false);
