using System.Data;
using System.Runtime.CompilerServices;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

// The physical side of a logical connection's session: it carries the SessionState that SessionRouter decides on and
// does what each RoutingDecision says (open, bind, pin, release). Single-threaded by ADO.NET's contract (one command
// at a time per connection), so no locks.
public sealed partial class RoutingConnection : IFailureSite, ILeaseOwner
{
    private SessionState _session;
    private NpgsqlConnection? _pinned; // the server _session.Pin refers to
    private NpgsqlConnection? _exposed; // handed to the application by GetNpgsqlConnectionAsync: never reused
    private Backend? _pinnedBackend;
    private NpgsqlTransaction? _physicalTransaction;
    private RoutingTransaction? _transaction; // the API transaction object while _session.ApiTransaction

    // After its first write a logical connection keeps that primary session (reads still go to standbys), so what a
    // write leaves in the session works as on a plain connection: currval()/lastval() after an INSERT with a serial
    // default, for instance. Released when the connection closes, or dropped if it breaks.
    private NpgsqlConnection? _primarySession;
    private Backend? _primarySessionBackend;
    private bool _primarySessionBusy;
    private NpgsqlCommand? _commit; // COMMIT for API transactions, never cancelled (see CommitPinnedAsync)
    private NpgsqlCommand? _commitPositioned; // the same, reading the commit position after it (read-your-writes)

    internal NpgsqlTransaction? PhysicalTransaction => _physicalTransaction;

    /// <summary>The session state the router decides on (for tests and diagnostics).</summary>
    internal SessionState Session => _session;

    FailureServices IFailureSite.FailureServices => _dataSource.Failures;

    RoutingException IFailureSite.OnPinnedConnectionLost(Exception? cause) => OnPinnedConnectionLost(cause);

    RoutingException? IFailureSite.OnBrokenByStatement(Lease lease, Exception cause) => OnBrokenByStatement(lease, cause);

    bool IFailureSite.HoldsTemporaryObjects => HoldsTemporary;

    bool IFailureSite.SetsReadOnlyDefault => _memory is { } m && m.Sets("default_transaction_read_only");

    bool ILeaseOwner.IsOnPrimary(Lease lease) => IsOnPrimary(lease);

    internal RoutingTransaction StartTransaction(IsolationLevel isolationLevel, bool readOnly)
    {
        ThrowIfNotOpen();
        var next = SessionRouter.BeginApiTransaction(_session, isolationLevel, readOnly)
            ?? throw new InvalidOperationException("A transaction is already in progress on this connection; nested transactions are not supported (use savepoints).");
        var transaction = new RoutingTransaction(this, isolationLevel, readOnly);
        // A session already pinned to one server: the transaction runs there, begun now.
        if (SessionRouter.BeginsOnPinned(next))
            _physicalTransaction = _pinned!.BeginTransaction(isolationLevel);
        _session = next;
        _transaction = transaction;
        return transaction;
    }

    /// <summary>
    /// Handles transaction-control statements that need not reach a server yet: a lone BEGIN outside a pinned session
    /// is deferred so that the next statement can bind the transaction (a following <c>SET TRANSACTION READ ONLY</c> may
    /// send it to a standby), and COMMIT/ROLLBACK of such a deferred, empty transaction is a no-op. Returns true when
    /// the statement was consumed.
    /// </summary>
    internal bool TryConsumeTransactionControl(SqlClassification c, string sql)
    {
        if (c.Kind != StatementKind.TransactionControl || c.StatementCount != 1)
            return false;
        var decision = SessionRouter.Decide(new StatementFacts(c, default, Deferrable: true, sql, HoldsTemporary), _session);
        if (decision.Action != SessionAction.Consume)
            return false;
        if (decision.Next.InTransaction)
            _session = decision.Next; // the BEGIN waits for the statement that binds it
        else
            EndTransaction();
        return true;
    }

    /// <summary>
    /// Chooses the server for one statement and lends a physical connection on it; counts the statement there.
    /// Outside a session or transaction, with a snapshot at hand and an idle pooled connection, it completes without
    /// an async state machine.
    /// </summary>
    internal ValueTask<Lease> AcquireAsync(SqlClassification c, StatementRoute route, bool async, CancellationToken cancellationToken, int statements = 1,
        IRoutedStatement? statement = null, bool mayCarryState = false, bool mayCarryIntoWrite = false)
    {
        ThrowIfNotOpen();
        _routing = statement;
        if (_memory is not null)
        {
            _mayCarry = mayCarryState;
            _mayCarryIntoWrite = mayCarryState && mayCarryIntoWrite && route.Kind == StatementKind.Write && c.Kind != StatementKind.TransactionControl;
            _carried = null;
            return AcquireCarryingStateAsync(c, route, async, cancellationToken, statements);
        }
        var decision = SessionRouter.Decide(new StatementFacts(c, route, HoldsTemporary: HoldsTemporary), _session);
        if (decision.Target == RoutingTarget.Pinned)
        {
            ThrowIfPinnedLost();
            _session = decision.Next;
            return new ValueTask<Lease>(Counted(new Lease(_pinned!, _pinnedBackend!, Pinned: true), route, statements));
        }
        if (decision.Bind != TransactionBind.None)
            return BindAndCountAsync(decision, route, async, cancellationToken, statements);
        var node = SelectAsync(decision.Target, mayGuard: !decision.PinAfter, cancellationToken);
        if (!node.IsCompletedSuccessfully)
            return AcquireAfterNodeAsync(node, decision, route, async, cancellationToken, statements);
        var open = OpenPhysicalAsync(node.Result.Backend, async, cancellationToken);
        if (!open.IsCompletedSuccessfully)
            return AcquireAfterOpenAsync(open, decision, route, statements);
        return new ValueTask<Lease>(AfterOpen(open.Result, decision, route, statements));
    }

    private ValueTask<NodeState> SelectAsync(RoutingTarget target, bool mayGuard, CancellationToken cancellationToken)
        => target == RoutingTarget.Standby
            ? SelectReadAsync(mayGuard, cancellationToken)
            : _dataSource.Selector.PrimaryAsync(cancellationToken);

    private async ValueTask<Lease> BindAndCountAsync(RoutingDecision decision, StatementRoute route, bool async, CancellationToken cancellationToken, int statements)
        => Counted(await BindTransactionAsync(decision, async, cancellationToken).ConfigureAwait(false), route, statements);

    private async ValueTask<Lease> AcquireAfterNodeAsync(ValueTask<NodeState> node, RoutingDecision decision, StatementRoute route, bool async,
        CancellationToken cancellationToken, int statements)
    {
        var n = await node.ConfigureAwait(false);
        var lease = await OpenPhysicalAsync(n.Backend, async, cancellationToken).ConfigureAwait(false);
        return AfterOpen(lease, decision, route, statements);
    }

    private async ValueTask<Lease> AcquireAfterOpenAsync(ValueTask<Lease> open, RoutingDecision decision, StatementRoute route, int statements)
        => AfterOpen(await open.ConfigureAwait(false), decision, route, statements);

    // A freshly opened (unpinned) lease: a write keeps the primary session; SET, a multi-statement transaction
    // control or BEGIN pins it.
    private Lease AfterOpen(Lease lease, in RoutingDecision decision, StatementRoute route, int statements)
    {
        if (decision.KeepPrimarySession || (decision.KeepStandbySession && IsOnPrimary(lease)))
            KeepAsPrimarySession(lease);
        else if (decision.KeepStandbySession && _standbySession is null)
            AdoptStandbySession(lease);
        if (decision.PinAfter)
        {
            Pin(lease);
            lease = lease with { Pinned = true };
        }
        _session = decision.Next;
        return Counted(lease, route, statements);
    }

    private Lease Counted(Lease lease, StatementRoute route, int statements)
    {
        if (route.Kind == StatementKind.Read)
            lease.Backend.CountReads(statements);
        else
            lease.Backend.CountWrites(statements);
        if (_dataSource.Metrics.StatementsEnabled)
            _dataSource.Metrics.Statement(lease.Backend, IsOnPrimary(lease), route.Kind, statements);
        return lease;
    }

    /// <summary>Whether the lease is on the server the current snapshot calls the primary.</summary>
    internal bool IsOnPrimary(Lease lease) => ReferenceEquals(_dataSource.Monitor.Current.Primary?.Backend, lease.Backend);

    /// <summary>A lease on the primary for internal use (schema queries): the pinned connection when pinned.</summary>
    internal async ValueTask<Lease> AcquireForPrimary(bool async, CancellationToken cancellationToken)
    {
        if (_pinned is not null)
            return new Lease(_pinned, _pinnedBackend!, Pinned: true);
        var node = await _dataSource.Selector.PrimaryAsync(cancellationToken).ConfigureAwait(false);
        return await OpenPhysicalAsync(node.Backend, async, cancellationToken).ConfigureAwait(false);
    }

    internal async ValueTask<NpgsqlConnection> PinToPrimaryAsync(bool async, CancellationToken cancellationToken)
    {
        if (_pinned is not null)
        {
            ThrowIfPinnedLost();
            var primary = _dataSource.Monitor.Current.Primary;
            if (primary is not null && !ReferenceEquals(primary.Backend, _pinnedBackend))
                throw new InvalidOperationException($"This connection is pinned to {_pinnedBackend!.Name} (a read-only transaction), not to the primary.");
            _session = SessionRouter.PinnedForSession(_session);
            _exposed = _pinned;
            return _pinned;
        }
        var node = await _dataSource.Selector.PrimaryAsync(cancellationToken).ConfigureAwait(false);
        var lease = await OpenPhysicalAsync(node.Backend, async, cancellationToken).ConfigureAwait(false);
        Pin(lease);
        _session = SessionRouter.PinnedForSession(_session);
        _exposed = lease.Connection;
        return lease.Connection;
    }

    // The first statement of a pending transaction: open on the server the decision names, begin the transaction
    // there (the API's way or the deferred BEGIN's text), and pin it.
    private async ValueTask<Lease> BindTransactionAsync(RoutingDecision decision, bool async, CancellationToken cancellationToken)
    {
        Lease lease;
        NodeState node;
        if (_memory is { HasState: true })
        {
            // The transaction's server gets the session's state first (a read-only one on a standby too).
            lease = await LeaseWithStateAsync(decision.Target, mayGuard: false, async, cancellationToken).ConfigureAwait(false);
            node = _dataSource.Monitor.Current.Nodes.FirstOrDefault(n => ReferenceEquals(n.Backend, lease.Backend))
                ?? await SelectAsync(RoutingTarget.Primary, mayGuard: false, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            node = await SelectAsync(decision.Target, mayGuard: false, cancellationToken).ConfigureAwait(false);
            lease = await OpenPhysicalAsync(node.Backend, async, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            if (decision.Bind == TransactionBind.Api)
            {
                _physicalTransaction = async
                    ? await lease.Connection.BeginTransactionAsync(_session.Isolation, cancellationToken).ConfigureAwait(false)
                    : lease.Connection.BeginTransaction(_session.Isolation);
            }
            else
            {
                await RunAsync(lease.Connection, _session.PendingBegin!, async, cancellationToken).ConfigureAwait(false);
            }
            if (decision.ReadOnlyOnPrimary && node.Role == BackendRole.Primary)
                await RunAsync(lease.Connection, "SET TRANSACTION READ ONLY", async, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Release(lease);
            throw;
        }
        Pin(lease);
        _session = decision.Next;
        return lease with { Pinned = true };
    }

    private static async ValueTask RunAsync(NpgsqlConnection conn, string sql, bool async, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        if (async)
            await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        else
            cmd.ExecuteNonQuery();
    }

    /// <summary>The backend of the latest physical connection attempt (to attribute a failure to open it).</summary>
    internal Backend? LastAcquireBackend { get; private set; }

    private void KeepAsPrimarySession(Lease lease)
    {
        if (ReferenceEquals(_primarySession, lease.Connection))
            return;
        if (_primarySession is { } old && !_primarySessionBusy)
            Recycle(old, _primarySessionBackend!); // the primary changed (failover): let the old session go
        _primarySession = lease.Connection;
        _primarySessionBackend = lease.Backend;
        _primarySessionBusy = true;
    }

    private ValueTask<Lease> OpenPhysicalAsync(Backend backend, bool async, CancellationToken cancellationToken)
    {
        LastAcquireBackend = backend;
        if (_primarySession is { } kept && ReferenceEquals(_primarySessionBackend, backend) && !_primarySessionBusy)
        {
            if (kept.State == ConnectionState.Open)
            {
                _primarySessionBusy = true;
                return new ValueTask<Lease>(new Lease(kept, backend, Pinned: false));
            }
            DropPrimarySession();
        }
        if (_standbySession is { } held && ReferenceEquals(_standbySessionBackend, backend) && !_standbySessionBusy)
        {
            if (held.State == ConnectionState.Open)
            {
                _standbySessionBusy = true;
                return new ValueTask<Lease>(new Lease(held, backend, Pinned: false));
            }
            DropStandbySession();
        }
        var conn = backend.RentConnection();
        var epoch = backend.InFlight.Epoch;
        Task open;
        try
        {
            if (!async)
            {
                conn.Open();
                return new ValueTask<Lease>(new Lease(conn, backend, Pinned: false));
            }
            open = conn.OpenAsync(cancellationToken);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        // An idle pooled connector makes the open complete at once: no state machine for the common case.
        if (open.IsCompletedSuccessfully)
            return new ValueTask<Lease>(new Lease(conn, backend, Pinned: false));
        return FinishOpenAsync(conn, open, backend, epoch);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Lease> FinishOpenAsync(NpgsqlConnection conn, Task open, Backend backend, int epoch)
    {
        var abandoned = false;
        try
        {
            // A server that accepts TCP but never answers must not hold the open until Npgsql's connect timeout
            // once the monitor has declared it down (see RoutedExecution for why it is not cancelled).
            if (!await backend.InFlight.FinishesAsync(open, epoch).ConfigureAwait(false))
            {
                abandoned = true;
                DisposeWhenDone(conn, open);
                throw new BackendOutOfServiceException("The backend was taken out of service while connecting.");
            }
            await open.ConfigureAwait(false);
        }
        catch when (!abandoned)
        {
            conn.Dispose();
            throw;
        }
        return new Lease(conn, backend, Pinned: false);
    }

    private static void DisposeWhenDone(NpgsqlConnection conn, Task operation) => _ = DisposeAfterAsync(conn, operation);

    // Closing gives the server back its session (an open transaction is rolled back, its locks released). It runs off
    // the driver's completion path (a synchronous close inside Npgsql's own continuation can fail and leave the session
    // open, idle in transaction), and nothing it throws can reach anyone: the statement belongs to no caller any more.
    private static async Task DisposeAfterAsync(NpgsqlConnection conn, Task operation)
    {
        try
        {
            await operation.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the abandoned statement's outcome is nobody's
        catch (Exception)
        {
        }
        await Task.Yield();
        try
        {
            await conn.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    /// <summary>
    /// Lets go of a physical connection whose statement is stuck on a hung server: it is neither closed nor returned
    /// (both would wait on that server), only forgotten, and disposed whenever its operation finally ends.
    /// </summary>
    internal void Abandon(Lease lease, Task operation)
    {
        if (ReferenceEquals(_pinned, lease.Connection))
            ForgetPinned(); // OnPinnedConnectionLost then reports what was lost without touching it
        if (ReferenceEquals(_primarySession, lease.Connection))
        {
            _primarySession = null;
            _primarySessionBackend = null;
            _primarySessionBusy = false;
            OnPrimarySessionDropped();
        }
        if (ReferenceEquals(_standbySession, lease.Connection))
            ForgetStandbySession();
        DisposeWhenDone(lease.Connection, operation);
    }

    /// <summary>Forgets the pinned physical connection and closes it in the background, never returning it to a pool as it is.</summary>
    private void DiscardPinned()
    {
        if (_pinned is not { } conn)
            return;
        if (ReferenceEquals(conn, _primarySession))
        {
            _primarySession = null;
            _primarySessionBackend = null;
            _primarySessionBusy = false;
            OnPrimarySessionDropped();
        }
        if (ReferenceEquals(conn, _standbySession))
            ForgetStandbySession();
        ForgetPinned();
        _pinnedBackend?.Pool.Clear(); // the connector is closed, not pooled, when it comes back
        DisposeWhenDone(conn, Task.CompletedTask);
    }

    // The state's pin (its reason) comes with the decision; this holds the physical connection it refers to.
    private void Pin(Lease lease)
    {
        _pinned = lease.Connection;
        _pinnedBackend = lease.Backend;
    }

    // The pinned physical connection is gone without a word to the server: the session routes as unpinned from now on.
    private void ForgetPinned()
    {
        _pinned = null;
        _session = SessionRouter.PinDropped(_session);
    }

    /// <summary>
    /// Gives an unpinned physical connection back to its pool after its statement (or reader) finished. A pinned one
    /// belongs to the session, which gives it back when it unpins (possibly already, when the failure that ended the
    /// statement also lost the session): returning it here too would put one object in the pool twice.
    /// </summary>
    internal void Release(Lease lease)
    {
        if (lease.Pinned)
            return;
        ReturnPhysical(lease.Connection, lease.Backend);
    }

    private void DropPrimarySession()
    {
        if (_primarySession is { } session)
        {
            Recycle(session, _primarySessionBackend!);
            OnPrimarySessionDropped();
        }
        _primarySession = null;
        _primarySessionBackend = null;
        _primarySessionBusy = false;
    }

    private void ReturnPhysical(NpgsqlConnection conn, Backend backend)
    {
        if (ReferenceEquals(conn, _primarySession))
        {
            _primarySessionBusy = false;
            if (conn.State != ConnectionState.Open)
                DropPrimarySession(); // broken (server gone): the next write starts a new session
            return;
        }
        if (ReferenceEquals(conn, _standbySession))
        {
            _standbySessionBusy = false;
            if (conn.State != ConnectionState.Open)
                DropStandbySession();
            return;
        }
        Recycle(conn, backend);
    }

    /// <summary>Closes a physical connection (its connector goes back to Npgsql's pool) and keeps the object for reuse.</summary>
    private void Recycle(NpgsqlConnection conn, Backend backend)
    {
        if (ReferenceEquals(conn, _exposed))
        {
            // The application has seen this object (and may have subscribed to its events): never hand it out again.
            _exposed = null;
            conn.Dispose();
            return;
        }
        conn.Close();
        backend.ReturnConnection(conn);
    }

    /// <summary>
    /// Bookkeeping after a statement ran: remember writes for read-your-writes, and let a SQL-level COMMIT/ROLLBACK
    /// end the transaction binding.
    /// </summary>
    internal void AfterStatement(SqlClassification c, StatementRoute route, ulong commitLsn = 0, NpgsqlConnection? ranOn = null)
    {
        var outcome = SessionRouter.AfterStatement(new StatementFacts(c, route), _session);
        if (_memory is not null || c.LeavesSessionState)
            RememberSession(c, ranOn);
        if (outcome.EndsTransaction)
            EndTransaction();
        else
            _session = outcome.Next;
        if (outcome.MarkWrite)
            MarkWrite(commitLsn);
    }

    /// <summary>
    /// A <c>PREPARE TRANSACTION</c> failed: PostgreSQL rolled the transaction back, so the session is out of it as
    /// after a success (statements after it run in autocommit, and their writes count at once).
    /// </summary>
    internal void PreparedTransactionFailed(SqlClassification c, StatementRoute route)
    {
        if (_session.InTransaction)
            AfterStatement(c, route);
    }

    // The connection's own mark is always kept (causality tokens need it); the data source keeps its own mark only
    // in the DataSource scope, where reads consult it.
    // A write whose commit position is not known is covered by the first probe after it: ask for one now.
    private void MarkWrite(ulong commitLsn)
    {
        var now = _dataSource.Time.GetTimestamp();
        _session = SessionRouter.Wrote(_session, now, commitLsn);
        _dataSource.Selector.MarkWrite(now, commitLsn);
        if (commitLsn == 0 && _dataSource.Options.ReadYourWrites != ReadYourWritesScope.None)
            _dataSource.Monitor.RequestProbe();
    }

    internal void RequireAtLeast(ulong lsn) => _session = SessionRouter.RequireAtLeast(_session, lsn, _dataSource.Time.GetTimestamp());

    /// <summary>
    /// An opaque token for "everything this connection has written so far" (e.g. to put in a cookie). Pass it to
    /// <see cref="PgRoutingDataSource.OpenConnectionAsync(string, CancellationToken)"/>, in this process or another,
    /// and that connection's reads will see those writes. It is the last write's own commit position, read in the
    /// write's round trip; only after a write whose position did not come back that way (one read through a reader, a
    /// multi-statement text, a prepared command) and before the next health probe does it cost a round trip to the primary.
    /// </summary>
    public string GetCausalityToken() => SyncPath.Wait(GetCausalityTokenAsync(async: false, default));

    /// <inheritdoc cref="GetCausalityToken" />
    public Task<string> GetCausalityTokenAsync(CancellationToken cancellationToken = default) => GetCausalityTokenAsync(async: true, cancellationToken);

    private async Task<string> GetCausalityTokenAsync(bool async, CancellationToken cancellationToken)
    {
        ThrowIfNotOpen();
        var lsn = Math.Max(_session.TokenLsn, _session.WriteLsn);
        if (_session.LastWrite != 0 && _session.WriteLsn == 0)
        {
            if (_dataSource.Monitor.Current.LsnAfter(_session.LastWrite) is { } sampled)
            {
                lsn = Math.Max(lsn, sampled);
            }
            else
            {
                var lease = await AcquireForPrimary(async, cancellationToken).ConfigureAwait(false);
                try
                {
                    await using var cmd = new NpgsqlCommand("SELECT pg_current_wal_insert_lsn()", lease.Connection);
                    var value = async ? await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : cmd.ExecuteScalar();
                    lsn = Math.Max(lsn, (ulong)(NpgsqlTypes.NpgsqlLogSequenceNumber)value!);
                }
                finally
                {
                    Release(lease);
                }
            }
        }
        return CausalityToken.Format(lsn);
    }

    internal async Task CompleteTransactionAsync(RoutingTransaction transaction, bool commit, bool async, CancellationToken cancellationToken)
    {
        if (!ReferenceEquals(transaction, _transaction))
            throw new InvalidOperationException("This transaction has already completed.");
        var wrote = _session.TransactionWrote;
        ulong commitLsn = 0;
        try
        {
            if (_physicalTransaction is { } tx)
            {
                if (commit)
                {
                    ThrowIfPinnedLost();
                    commitLsn = await CommitPinnedAsync(cancellationToken).ConfigureAwait(false);
                    CommitRemembered();
                }
                else
                {
                    try
                    {
                        if (async)
                            await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
                        else
                            tx.Rollback();
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        // A rollback that failed leaves the server session in a state nobody knows: never give it back
                        // to a pool (closing it is what rolls it back on the server). What is left is gone either way.
                        _physicalTransaction = null;
                        DiscardPinned();
                        if (e is not NpgsqlException and not InvalidOperationException)
                            throw;
                    }
                }
            }
        }
        finally
        {
            EndTransaction();
        }
        if (commit && wrote)
            MarkWrite(commitLsn);
    }

    /// <summary>
    /// A lone SQL <c>COMMIT</c> (or <c>END</c>) of the session's own SQL-level transaction: committed the way
    /// <see cref="RoutingTransaction.CommitAsync"/> commits (never cancelled, see <see cref="CommitPinnedAsync"/>).
    /// </summary>
    internal bool IsSqlCommitOfPinnedTransaction(SqlClassification c)
        => c is { Kind: StatementKind.TransactionControl, StatementCount: 1, TransactionControl: TransactionControlKind.Commit }
            && SessionRouter.Decide(new StatementFacts(c, default, Deferrable: true), _session).Action == SessionAction.CommitPinned;

    internal async ValueTask CommitSqlTransactionAsync(CancellationToken cancellationToken)
    {
        ThrowIfPinnedLost();
        var wrote = _session.TransactionWrote;
        _pinnedBackend!.CountWrites(1);
        ulong commitLsn;
        try
        {
            commitLsn = await CommitPinnedAsync(cancellationToken).ConfigureAwait(false);
            CommitRemembered();
        }
        finally
        {
            EndTransaction();
        }
        if (wrote)
            MarkWrite(commitLsn);
    }

    /// <summary>
    /// Commits the pinned transaction. A commit is never cancelled: not by Npgsql's command timeout, not by the caller's
    /// token. Cancelling it would cut its wait for synchronous replication short, and PostgreSQL would then report
    /// success for a commit no standby may hold. Instead the library stops waiting (the server was taken out of service,
    /// the caller cancelled, or the connection's command timeout passed), abandons the physical connection, and reports
    /// that the commit may have happened. Runs on Npgsql's async path even for the sync API, so it can be abandoned.
    /// </summary>
    /// <returns>The primary's insert position read right after a COMMIT of a transaction that wrote (0 otherwise, see <see cref="CommitPosition"/>).</returns>
    private async Task<ulong> CommitPinnedAsync(CancellationToken cancellationToken)
    {
        var connection = _pinned!;
        var backend = _pinnedBackend!;
        // COMMIT is transaction control: the server commits as it runs it, so the SELECT after it in the same round
        // trip reads a position past the commit record. Only on the primary (a standby has no insert position).
        var positioned = _session.TransactionWrote && _dataSource.Options.ReadYourWrites != ReadYourWritesScope.None
            && ReferenceEquals(_dataSource.Monitor.Current.Primary?.Backend, backend);
        var command = positioned
            ? _commitPositioned ??= new NpgsqlCommand("COMMIT;" + CommitPosition.Sql) { CommandTimeout = 0 }
            : _commit ??= new NpgsqlCommand("COMMIT") { CommandTimeout = 0 };
        command.Connection = connection;
        var epoch = backend.InFlight.Epoch;
        var operation = command.ExecuteScalarAsync(CancellationToken.None);
        if (!operation.IsCompleted)
        {
            var timeout = connection.CommandTimeout;
            using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (timeout > 0)
                giveUp.CancelAfter(TimeSpan.FromSeconds(timeout));
            if (!await backend.InFlight.FinishesAsync(operation, epoch, giveUp.Token).ConfigureAwait(false))
            {
                var why = !giveUp.IsCancellationRequested ? "the server was taken out of service"
                    : cancellationToken.IsCancellationRequested ? "the caller cancelled"
                    : $"it outlasted the command timeout of {timeout} s";
                if (positioned)
                    _commitPositioned = null; // goes with its abandoned statement
                else
                    _commit = null;
                _physicalTransaction = null; // on a connection in use: never touched again
                Abandon(new Lease(connection, backend, Pinned: true), operation);
                throw Resilience.FailureTranslator.CommitAbandoned(this, backend.Name, why,
                    giveUp.IsCancellationRequested ? new OperationCanceledException(giveUp.Token) : new BackendOutOfServiceException("The backend was taken out of service during COMMIT."));
            }
        }
        object? position;
        try
        {
            position = await operation.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _physicalTransaction = null;
            var translated = Resilience.FailureTranslator.AtCommit(e, this, backend);
            if (ReferenceEquals(translated, e))
                throw;
            throw translated;
        }
        if (backend.CommitWarnings.TakeCutShort(connection))
            throw Resilience.FailureTranslator.CommitNotAcknowledged(this, backend.Name);
        return position is NpgsqlTypes.NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
    }

    internal async Task SavepointAsync(string sql, bool async, CancellationToken cancellationToken)
    {
        if (_session.Transaction == TransactionPhase.Pending)
        {
            var c = _dataSource.Classifier.Classify(sql);
            var decision = SessionRouter.Decide(new StatementFacts(c, StatementRoute.PrimaryWrite), _session);
            var lease = await BindTransactionAsync(decision, async, cancellationToken).ConfigureAwait(false);
            lease.Backend.CountWrites(1);
        }
        if (_pinned is null || _session.Transaction != TransactionPhase.Active)
            throw new InvalidOperationException("No transaction is in progress.");
        ThrowIfPinnedLost();
        _pinnedBackend!.CountWrites(1);
        await RunAsync(_pinned, sql, async, cancellationToken).ConfigureAwait(false);
    }

    // The transaction ended: its physical transaction is disposed and a pin it made released.
    private void EndTransaction()
    {
        _memory?.DiscardTransaction(); // a no-op after a commit took its changes
        var next = SessionRouter.EndTransaction(_session);
        _transaction = null;
        _physicalTransaction?.Dispose();
        _physicalTransaction = null;
        if (next.Pin == PinReason.None)
            ReleasePinned(); // the transaction's own pin (a session pin outlives it)
        _session = next;
    }

    private void ReleasePinned()
    {
        if (_pinned is { } conn)
            ReturnPhysical(conn, _pinnedBackend!);
        _pinned = null;
        _pinnedBackend = null;
    }

    /// <summary>
    /// A pinned physical connection that broke (server gone) cannot be replaced silently: the transaction or session
    /// state on it is lost. Say so once, and unpin so the next statement starts clean.
    /// </summary>
    private void ThrowIfPinnedLost()
    {
        if (_pinned is { State: ConnectionState.Open })
            return;
        throw OnPinnedConnectionLost(null);
    }

    /// <summary>Unpins after the pinned server was lost and returns the exception that tells the caller what was lost.</summary>
    internal RoutingException OnPinnedConnectionLost(Exception? cause)
    {
        var backend = _pinnedBackend?.Name;
        var inTransaction = _session.InTransaction;
        if (_transaction is { } t)
            t.MarkLost();
        _transaction = null;
        _physicalTransaction = null;
        ReleasePinned();
        _session = SessionRouter.PinnedLost(_session);
        return inTransaction
            ? new RoutingException(RoutingFailure.TransactionLost,
                $"The connection to {backend} that held this transaction was lost; the server rolled the transaction back. Re-run the whole transaction (PgRoutingDataSource.ExecuteAsync does this).",
                cause, backend, clusterState: _dataSource.Monitor.Current.ProblemMessage)
            : new RoutingException(RoutingFailure.SessionLost,
                $"The connection to {backend} that held this session's state (SET, temp tables, prepared statements...) was lost. Re-create the session state; the next statement starts clean.",
                cause, backend, clusterState: _dataSource.Monitor.Current.ProblemMessage);
    }

    private Task ResetSession(bool async)
    {
        if (_physicalTransaction is null && _pinned is null && _primarySession is null && _standbySession is null && _memory is null)
        {
            // Nothing held on a server (the common case between statements): no I/O and no state machine.
            _transaction?.MarkLost();
            ForgetSession();
            return Task.CompletedTask;
        }
        return ResetSessionAsync(async);
    }

    private void ForgetSession()
    {
        _physicalTransaction = null;
        _transaction = null;
        _session = SessionRouter.Closed(_session);
    }

    private async Task ResetSessionAsync(bool async)
    {
        try
        {
            if (_physicalTransaction is { } tx)
            {
                try
                {
                    if (async)
                        await tx.DisposeAsync().ConfigureAwait(false);
                    else
                        tx.Dispose();
                }
                catch (NpgsqlException)
                {
                    // The server is gone; closing the connection below is all that is left to do.
                }
            }
            _transaction?.MarkLost();
        }
        finally
        {
            ForgetSession();
            await ForgetSessionStateAsync(async).ConfigureAwait(false);
            if (_pinned is { } conn)
            {
                if (async)
                    await conn.CloseAsync().ConfigureAwait(false);
                if (!ReferenceEquals(conn, _primarySession))
                    Recycle(conn, _pinnedBackend!);
            }
            _pinned = null;
            _pinnedBackend = null;
            if (async && _primarySession is { } session)
                await session.CloseAsync().ConfigureAwait(false);
            DropPrimarySession();
        }
    }
}
