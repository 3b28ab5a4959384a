using System.Data;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

// Session state that travels with the reads (README, "Session state"): what the connection's statements left in the
// session is kept in a SessionMemory; the physical connections the logical one holds on to (its primary session and
// one standby session) each hold it up to a position, and a statement on one of them first gets what it lacks. Only a
// connection with such state comes here: for the others, the memory is null and nothing below runs.
public sealed partial class RoutingConnection
{
    private SessionMemory? _memory;
    private long _primaryHolds = SessionMemory.Nothing; // how much of _memory the primary session holds
    private NpgsqlConnection? _standbySession; // the standby connection the state was replayed on (affinity)
    private Backend? _standbySessionBackend;
    private bool _standbySessionBusy;
    private long _standbyHolds = SessionMemory.Nothing;
    private bool _temporaryLost; // the primary session that held temporary objects broke: say so once
    private bool _mayCarry; // the statement being given a server can take the state in front of it (CanGuard, results read whole)
    private bool _mayCarryIntoWrite; // ... and, as a write, can run positioned with the state in front (see RoutedExecution)
    private string? _carried; // what the held session lacks, to run in front of the statement in its round trip
    private bool _carriedIntoWrite; // _carried goes in front of a positioned write on the primary session, not of a read
    private long _carriedVersion; // the position the standby session holds once the read carrying _carried ran
    private NpgsqlConnection? _carriedOn;
    private bool _carryFailed; // a read carrying state failed: later state takes its own round trip (its failure is told apart)

    /// <summary>Whether the session's statements left state in it (one null check: a connection without any pays nothing more).</summary>
    internal bool HasSessionState => _memory is not null;

    /// <summary>What the session's statements left in it (for tests and diagnostics); null when nothing.</summary>
    internal SessionMemory? Memory => _memory;

    /// <summary>How many times state was replayed on a physical connection (for tests).</summary>
    internal int StateReplays { get; private set; }

    /// <summary>How many of those replays took a round trip of their own, not carried in front of a statement (for tests).</summary>
    internal int StateRoundTrips { get; private set; }

    /// <summary>The standby connection holding the replayed state, if any (for tests).</summary>
    internal NpgsqlConnection? StandbySession => _standbySession;

    /// <summary>Whether <see cref="Refine"/> can change a route: the session has state, or the statement leaves some.</summary>
    internal bool RefinesRoute(SqlClassification c) => _memory is not null || c.LeavesSessionState;

    // The session holds temporary objects: its read-only transactions stay on the primary session.
    private bool HoldsTemporary => _memory is { HasTemporary: true };

    /// <summary>The route of a statement in this session (see <see cref="SessionRouter.Refine"/>); a batch with session state pins.</summary>
    internal (SqlClassification, StatementRoute) Refine(SqlClassification c, StatementRoute route, int statements)
    {
        if (statements > 1 && route.Kind == StatementKind.SessionState && SessionRouter.IsModelled(c))
            return (StatementClassifications.BatchSessionState, route);
        // With PrimaryServesReads = Never a read waits for a standby; a SET must not, so it stays on the primary there.
        var staysOnPrimary = _primarySession is not null || _pinned is not null || _dataSource.Options.PrimaryServesReads == PrimaryReadMode.Never;
        return (c, SessionRouter.Refine(c, route, _memory, _session, staysOnPrimary));
    }

    /// <summary>
    /// <see cref="AcquireAsync"/> for a session with state: the same decision, and the physical connection it lands on
    /// gets the state it lacks first (one round trip, only when it lacks something). A standby read keeps to the standby
    /// session while that one is eligible and caught up; a standby that cannot take the state (a role it has not
    /// replayed yet, say) leaves the read to the primary session.
    /// </summary>
    private async ValueTask<Lease> AcquireCarryingStateAsync(SqlClassification c, StatementRoute route, bool async, CancellationToken cancellationToken, int statements)
    {
        if (_temporaryLost)
        {
            _temporaryLost = false;
            throw OnPrimarySessionLost();
        }
        var decision = SessionRouter.Decide(new StatementFacts(c, route, HoldsTemporary: HoldsTemporary), _session);
        if (decision.Target == RoutingTarget.Pinned)
        {
            ThrowIfPinnedLost();
            _session = decision.Next;
            return Counted(new Lease(_pinned!, _pinnedBackend!, Pinned: true), route, statements);
        }
        if (decision.Bind != TransactionBind.None)
            return Counted(await BindTransactionAsync(decision, async, cancellationToken).ConfigureAwait(false), route, statements);
        var lease = await LeaseWithStateAsync(decision.Target, mayGuard: !decision.PinAfter, async, cancellationToken).ConfigureAwait(false);
        return AfterOpen(lease, decision, route, statements);
    }

    /// <summary>
    /// A physical connection on the server <paramref name="target"/> names, holding the session's state. A read may run
    /// behind a read guard (<paramref name="mayGuard"/>) on a standby not yet known to be past the session's writes; a
    /// transaction's first statement never does (a missed guard would abort the transaction there).
    /// </summary>
    private async ValueTask<Lease> LeaseWithStateAsync(RoutingTarget target, bool mayGuard, bool async, CancellationToken cancellationToken)
    {
        var node = target == RoutingTarget.Standby && HeldStandbyUsable(mayGuard) is { } held
            ? held
            : await SelectAsync(target, mayGuard, cancellationToken).ConfigureAwait(false);
        var lease = await OpenPhysicalAsync(node.Backend, async, cancellationToken).ConfigureAwait(false);
        var standby = node.Role != BackendRole.Primary;
        try
        {
            await EnsureStateAsync(lease, standby, async, cancellationToken, carry: mayGuard && _mayCarry).ConfigureAwait(false);
            return lease;
        }
        catch (PostgresException) when (standby)
        {
            // The standby refused part of the state (it may not have replayed a role or a table yet). What it took is
            // unknown: that session goes back to its pool (which resets it), and the read goes to the primary session.
            if (ReferenceEquals(lease.Connection, _standbySession))
                ForgetStandbySession();
            Recycle(lease.Connection, lease.Backend);
        }
        catch
        {
            Release(lease);
            throw;
        }
        var primary = await _dataSource.Selector.PrimaryAsync(cancellationToken).ConfigureAwait(false);
        var fallback = await OpenPhysicalAsync(primary.Backend, async, cancellationToken).ConfigureAwait(false);
        try
        {
            await EnsureStateAsync(fallback, standby: false, async, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Release(fallback);
            throw;
        }
        return fallback;
    }

    /// <summary>
    /// The standby the state was replayed on, while it is a read candidate caught up with what the session must see;
    /// or, for a read that may carry the guard (<paramref name="mayGuard"/>), one not yet known to have replayed the
    /// session's writes but expected to within <see cref="RoutingOptions.ReadYourWritesWait"/>, while no other standby is
    /// known to have (<see cref="BackendSelector.GuardOnHeld"/>): the read then runs there behind the guard rather than
    /// on another standby, which would need the state replayed first.
    /// </summary>
    private NodeState? HeldStandbyUsable(bool mayGuard)
    {
        if (_standbySession is null || _standbySessionBusy)
            return null;
        var s = _dataSource.Monitor.Current;
        var required = _dataSource.Selector.RequiredLsn(s, _session);
        foreach (var n in s.ReadCandidates)
        {
            if (!ReferenceEquals(n.Backend, _standbySessionBackend))
                continue;
            if (WeightedRoundRobinBalancer.IsUsable(n, s, required))
                return n;
            _guardBackend = null;
            return mayGuard && _dataSource.Selector.GuardOnHeld(n, s, _session, this) ? n : null;
        }
        // No longer a candidate (down, lagging, detached): let that session go; the next standby gets the state anew.
        DropStandbySession();
        return null;
    }

    /// <summary>
    /// Replays on the lease's physical connection what it lacks of the state. A connection the logical one does not
    /// hold yet becomes its primary or standby session when that place is free, so the state is replayed once. On the
    /// standby session, with <paramref name="carry"/> (a read outside a transaction whose text can take it), state that
    /// returns no rows and is undone with a failed transaction is not run here: it goes in front of the read, in the
    /// read's own round trip (<see cref="TakeCarriedState"/>).
    /// </summary>
    private async ValueTask EnsureStateAsync(Lease lease, bool standby, bool async, CancellationToken cancellationToken, bool carry = false)
    {
        var memory = _memory;
        if (memory is null || (!memory.HasState && memory.Version == 0))
            return;
        var conn = lease.Connection;
        if (!ReferenceEquals(conn, _primarySession) && !ReferenceEquals(conn, _standbySession) && memory.HasState)
        {
            if (standby && _standbySession is null)
                AdoptStandbySession(lease);
            else if (!standby && _primarySession is null)
            {
                KeepAsPrimarySession(lease);
                _primaryHolds = SessionMemory.Nothing;
            }
        }
        var holds = ReferenceEquals(conn, _primarySession) ? _primaryHolds
            : ReferenceEquals(conn, _standbySession) ? _standbyHolds
            : SessionMemory.Nothing;
        // A read on the standby session, or a write run positioned on the primary session (its first write, after
        // state set on a standby): the held session stays at its old position until the statement that carries this
        // ran (CarriedStateRan). Both run in one implicit transaction, so a failure of either undoes both.
        var carryHere = carry && (standby
            ? !_carryFailed && ReferenceEquals(conn, _standbySession)
            : _mayCarryIntoWrite && ReferenceEquals(conn, _primarySession) && PositionsWritesOn(lease.Backend));
        if (carryHere && memory.CarriableStatements(holds, standby, intoWrite: !standby) is { } statements && ReadGuard.StateBody(statements) is { } body)
        {
            StateReplays++;
            _carried = body;
            _carriedVersion = memory.Version;
            _carriedOn = conn;
            _carriedIntoWrite = !standby;
            return;
        }
        var sql = memory.ReplaySql(holds, standby);
        if (sql is not null)
        {
            StateReplays++;
            StateRoundTrips++;
            try
            {
                await RunAsync(conn, sql, async, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (!standby)
            {
                throw StateFailedOnPrimary(lease, e);
            }
        }
        if (ReferenceEquals(conn, _primarySession))
            _primaryHolds = memory.Version;
        else if (ReferenceEquals(conn, _standbySession))
            _standbyHolds = memory.Version;
        TrimMemory();
    }

    /// <summary>
    /// A new primary session cannot take the state (an object it names is gone): say so once, and start clean rather
    /// than fail every later statement the same way.
    /// </summary>
    internal RoutingException StateFailedOnPrimary(Lease lease, PostgresException e)
    {
        var memory = _memory!;
        memory.ForgetTravelling();
        if (ReferenceEquals(lease.Connection, _primarySession))
            _primaryHolds = memory.Version;
        DropStandbySession();
        return new RoutingException(RoutingFailure.SessionLost,
            $"The session's state (SET, SET ROLE, PREPARE...) could not be re-created on a new primary session: {e.MessageText}. It is forgotten; set it again.",
            e, lease.Backend.Name, clusterState: _dataSource.Monitor.Current.ProblemMessage);
    }

    /// <summary>
    /// The session state the held session behind <paramref name="lease"/> lacks, to run in front of the statement in
    /// its own round trip (null: none, or it was replayed already), with the position it brings the session to and
    /// whether it goes in front of a positioned write (<see cref="IRoutedStatement.Positioned"/>) rather than a read.
    /// </summary>
    internal CarriedState TakeCarriedState(Lease lease)
    {
        var sql = _carried;
        if (sql is null)
            return default;
        _carried = null;
        _mayCarry = false;
        return ReferenceEquals(lease.Connection, _carriedOn) ? new CarriedState(sql, _carriedVersion, _carriedIntoWrite) : default;
    }

    /// <summary>
    /// State meant to go in front of a write that cannot run positioned after all (the primary changed since the
    /// session was chosen): it runs alone first, in a round trip of its own.
    /// </summary>
    internal async ValueTask RunCarriedAloneAsync(Lease lease, CarriedState carried, bool async, CancellationToken cancellationToken)
    {
        StateRoundTrips++;
        try
        {
            await RunAsync(lease.Connection, ReadGuard.StateOnly(carried.Sql!), async, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            throw StateFailedOnPrimary(lease, e);
        }
        CarriedStateRan(lease.Connection, carried.Version);
    }

    /// <summary>
    /// Session state set on a standby first (<see cref="SessionRouter.SetsOnStandby"/>) failed there: a role or a
    /// setting it has not replayed yet, or an error the primary would give too. Nothing changed in that session (the
    /// statement failed alone); it is re-run at once on the primary session, whose answer stands.
    /// </summary>
    internal RetryableFailure StateRefusedByStandby(Lease lease, StatementRoute route, int statements, Exception e)
    {
        Uncount(lease, route, statements);
        lease.Backend.CountReroute();
        _dataSource.Metrics.Reroute(lease.Backend);
        return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary session: the standby refused the session state" },
            e, lease.Backend, immediate: true);
    }

    // A statement counted on the server chosen for it did not run there.
    private static void Uncount(Lease lease, StatementRoute route, int statements)
    {
        if (route.Kind == StatementKind.Read)
            lease.Backend.CountReads(-statements);
        else
            lease.Backend.CountWrites(-statements);
    }

    /// <summary>The statement that carried the state up to <paramref name="version"/> succeeded: its held session holds it now.</summary>
    internal void CarriedStateRan(NpgsqlConnection physical, long version)
    {
        if (_memory is null)
            return;
        if (ReferenceEquals(physical, _standbySession) && version > _standbyHolds)
            _standbyHolds = version;
        else if (ReferenceEquals(physical, _primarySession) && version > _primaryHolds)
            _primaryHolds = version;
        else
            return;
        TrimMemory();
    }

    /// <summary>
    /// The read that carried the session's state failed on the standby: the state, or the read itself (which is safe
    /// to run again). Everything it ran there was undone with its implicit transaction, so the standby session keeps
    /// its old position; the read is re-run at once on the primary session, where the error, if it is the read's own,
    /// comes again.
    /// </summary>
    internal RetryableFailure CarriedStateFailed(Lease lease, StatementRoute route, int statements, Exception e)
    {
        _carryFailed = true; // should the state be what fails (a role the standby cannot take), every read would pay for it
        Uncount(lease, route, statements);
        lease.Backend.CountReroute();
        _dataSource.Metrics.Reroute(lease.Backend);
        return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary: the standby failed the read that carried the session's state" },
            e, lease.Backend, immediate: true);
    }

    private void AdoptStandbySession(Lease lease)
    {
        _standbySession = lease.Connection;
        _standbySessionBackend = lease.Backend;
        _standbySessionBusy = true;
        _standbyHolds = SessionMemory.Nothing;
    }

    private void TrimMemory()
    {
        var oldest = long.MaxValue;
        if (_primarySession is not null && _primaryHolds != SessionMemory.Nothing)
            oldest = Math.Min(oldest, _primaryHolds);
        if (_standbySession is not null && _standbyHolds != SessionMemory.Nothing)
            oldest = Math.Min(oldest, _standbyHolds);
        _memory?.Trim(oldest == long.MaxValue ? _memory.Version : oldest);
    }

    /// <summary>
    /// After a statement ran: what it left in the session is remembered, and the physical connection it ran on holds
    /// that change already. Called before the transaction bookkeeping, while the transaction's connection is pinned.
    /// </summary>
    private void RememberSession(SqlClassification c, NpgsqlConnection? ranOn = null)
    {
        if (c.Session is { CreatedUnlogged: true, CreatedName: { } unlogged })
            _dataSource.Unlogged.Learn(unlogged);
        var had = _memory;
        var before = had?.Version ?? 0;
        if (had is null)
        {
            // Whatever the connection holds now holds the empty state (position 0).
            _primaryHolds = 0;
            _standbyHolds = 0;
        }
        var preparedRead = c.Session.Effect == SessionEffect.Prepare && _dataSource.Router.MayRunOnStandby(c);
        switch (SessionRouter.Remember(c, _session.InTransaction, preparedRead, ref _memory))
        {
            case MemoryOutcome.PinsAtCommit:
                _session = SessionRouter.PinnedForSession(_session);
                return;
            case MemoryOutcome.None:
                return;
        }
        if (c.Session.Effect is SessionEffect.CreateTemp or SessionEffect.HeldCursor or SessionEffect.Listen or SessionEffect.AdvisoryLock
            && _session.InTransaction && _pinned is not null && _primarySession is null && IsOnPrimary(new Lease(_pinned, _pinnedBackend!, Pinned: true)))
        {
            // A temporary table, a cursor WITH HOLD, a LISTEN or a session lock made in a transaction outlives it in
            // that server session: keep it as the primary session.
            KeepAsPrimarySession(new Lease(_pinned, _pinnedBackend!, Pinned: true));
            _primaryHolds = before;
        }
        Recorded(ranOn ?? _pinned ?? _primarySession, before);
    }

    // A change recorded at positions after `before` ran on `ranOn`: a held connection that was up to date is still.
    private void Recorded(NpgsqlConnection? ranOn, long before)
    {
        var memory = _memory!;
        if (ranOn is null || memory.Version == before)
            return;
        if (ReferenceEquals(ranOn, _primarySession) && _primaryHolds == before)
            _primaryHolds = memory.Version;
        else if (ReferenceEquals(ranOn, _standbySession) && _standbyHolds == before)
            _standbyHolds = memory.Version;
        TrimMemory();
    }

    /// <summary>An API or lone SQL COMMIT succeeded: the transaction's parameter changes count (or the session pins).</summary>
    private void CommitRemembered()
    {
        if (_memory is null)
            return;
        RememberSession(StatementClassifications.Commit);
    }

    private RoutingException OnPrimarySessionLost(Exception? cause = null, string? backend = null) => new(RoutingFailure.SessionLost,
        "The primary session that held this connection's temporary tables was lost. Re-create them; the next statement starts clean.",
        cause, backend ?? _primarySessionBackend?.Name, clusterState: _dataSource.Monitor.Current.ProblemMessage);

    // See IFailureSite.OnBrokenByStatement. A pinned connection held a transaction or session state; an unpinned
    // primary session may hold temporary objects. Either loss is told with the statement's own failure inside, once.
    private RoutingException? OnBrokenByStatement(Lease lease, Exception cause)
    {
        if (lease.Pinned && ReferenceEquals(lease.Connection, _pinned))
        {
            var lost = OnPinnedConnectionLost(cause); // gives the connection back (and lets the primary session go)
            _temporaryLost = false;
            return lost;
        }
        if (!ReferenceEquals(lease.Connection, _primarySession) || _memory is not { HasTemporary: true })
            return null; // state that travels is replayed on the next session; a plain connection held nothing
        var backend = _primarySessionBackend?.Name;
        // Forgotten, not recycled: the caller's Release gives the connection back once.
        _primarySession = null;
        _primarySessionBackend = null;
        _primarySessionBusy = false;
        OnPrimarySessionDropped();
        _temporaryLost = false;
        return OnPrimarySessionLost(cause, backend);
    }

    // The primary session broke: the state that travels is replayed on the next one; temporary objects cannot be.
    private void OnPrimarySessionDropped()
    {
        _primaryHolds = SessionMemory.Nothing;
        if (_memory is { HasTemporary: true } m)
        {
            m.Record(new SessionFacts(SessionEffect.DiscardTemp, null, null, null, false), "", false, false);
            _temporaryLost = true;
        }
    }

    private void ForgetStandbySession()
    {
        _standbySession = null;
        _standbySessionBackend = null;
        _standbySessionBusy = false;
        _standbyHolds = SessionMemory.Nothing;
    }

    /// <summary>Gives the standby session back to its pool (Npgsql resets it there) unless a statement still uses it.</summary>
    private void DropStandbySession()
    {
        if (_standbySession is not { } conn)
            return;
        var backend = _standbySessionBackend!;
        var busy = _standbySessionBusy;
        ForgetStandbySession();
        if (!busy)
            Recycle(conn, backend);
    }

    /// <summary>
    /// Before the held sessions go back to their pools: the prepared statements this session made are deallocated
    /// (Npgsql's reset leaves SQL-level prepared statements alone when it has prepared statements of its own on the
    /// connection), so none reaches the next user of that physical connection.
    /// </summary>
    private async Task ForgetSessionStateAsync(bool async)
    {
        var memory = _memory;
        _memory = null;
        _temporaryLost = false;
        _carried = null;
        _carryFailed = false; // a reopened connection starts with a new session
        _primaryHolds = SessionMemory.Nothing;
        if (memory is not null)
        {
            await DeallocateAsync(_standbySession, memory.PreparedOnStandby, async).ConfigureAwait(false);
            if (_pinned is null || ReferenceEquals(_pinned, _primarySession))
                await DeallocateAsync(_primarySession, memory.Prepared, async).ConfigureAwait(false);
        }
        if (_standbySession is { } standby)
        {
            var backend = _standbySessionBackend!;
            ForgetStandbySession();
            if (async)
                await standby.CloseAsync().ConfigureAwait(false);
            Recycle(standby, backend);
        }
    }

    private static async Task DeallocateAsync(NpgsqlConnection? conn, IEnumerable<string> names, bool async)
    {
        if (conn is not { State: ConnectionState.Open })
            return;
        var sql = string.Join(";\n", names.Select(static n => "DEALLOCATE " + n));
        if (sql.Length == 0)
            return;
        try
        {
            await RunAsync(conn, sql, async, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // Already gone (26000) or the connection broke: a broken connector is not pooled again either way.
        }
    }
}

/// <summary>
/// Session state a held session lacks, run in front of the statement in the statement's round trip (see
/// <see cref="RoutingConnection.TakeCarriedState"/>): its text (one statement body, see <see cref="ReadGuard.StateBody"/>),
/// the position it brings the session to, and whether it goes in front of a positioned write on the primary session.
/// </summary>
internal readonly record struct CarriedState(string? Sql, long Version, bool IntoWrite);
