using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

// Read-your-writes on the physical side: which reads run behind a guard on a standby not known to have replayed the
// session's writes (ReadGuard), what a guard's outcome teaches (ReplayTracker), and which writes read their commit
// position in their own round trip (CommitPosition).
public sealed partial class RoutingConnection : IReadGuardSink
{
    private IRoutedStatement? _routing; // the statement being given a server: asked whether it can carry a guard
    private Backend? _guardBackend;
    private ulong _guardLsn;
    private long _guardWrittenAt;
    private bool _guardExploring;

    bool IReadGuardSink.CanGuard => _routing is { CanGuard: true };

    bool IReadGuardSink.GuardRead(NodeState node, ulong requiredLsn, long writtenAt, bool exploring)
    {
        if (_routing is not { CanGuard: true })
            return false;
        _guardBackend = node.Backend;
        _guardLsn = requiredLsn;
        _guardWrittenAt = writtenAt;
        _guardExploring = exploring;
        return true;
    }

    // A read outside a transaction may try a standby behind a guard; one that binds a transaction or pins may not.
    private ValueTask<NodeState> SelectReadAsync(bool mayGuard, CancellationToken cancellationToken)
    {
        _guardBackend = null;
        return _dataSource.Selector.ReadNodeAsync(_session, mayGuard && _routing is not null ? this : null, cancellationToken);
    }

    /// <summary>The guard the read on <paramref name="lease"/> must run behind (<see cref="ReadGuardTicket.Lsn"/> 0: none). Taken once.</summary>
    internal ReadGuardTicket TakeReadGuard(Lease lease)
    {
        _routing = null;
        if (_guardBackend is null)
            return default;
        var matches = ReferenceEquals(_guardBackend, lease.Backend) && !lease.Pinned;
        _guardBackend = null;
        return matches ? ReadGuardTicket.Take(_guardLsn, _guardWrittenAt, _guardExploring, _dataSource.Options.ReadYourWritesWait, _dataSource.Time) : default;
    }

    /// <summary>The guard passed: the standby had replayed the required position, and the read ran there.</summary>
    internal void GuardPassed(Lease lease, ReadGuardTicket guard)
    {
        lease.Backend.Replay.Hit(guard.Lsn, _dataSource.Monitor.Current.Version, guard.Taught);
        _dataSource.Metrics.Guard(lease.Backend, passed: true);
    }

    /// <summary>The guard failed: nothing ran on the standby; the read is re-run on the primary at once.</summary>
    internal RetryableFailure GuardMissed(Lease lease, ReadGuardTicket guard, StatementRoute route, int statements, Exception e)
    {
        lease.Backend.Replay.Miss(guard.Taught, guard.Exploring, waited: guard.Wait > TimeSpan.Zero);
        Uncount(lease, route, statements); // counted when the server was chosen; nothing ran there
        _dataSource.Metrics.Guard(lease.Backend, passed: false);
        // PrimaryServesReads = Never: the re-run waits for a standby known to be past the writes instead.
        return _dataSource.Options.PrimaryServesReads == PrimaryReadMode.Never
            ? new RetryableFailure(route with { Reason = "re-run on a standby past the session's writes: the guarded one had not replayed them" },
                e, lease.Backend, immediate: true)
            : new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary: the standby had not replayed the session's writes" },
                e, lease.Backend, immediate: true);
    }

    /// <summary>
    /// Whether a statement about to run on <paramref name="lease"/> is a write outside a transaction whose commit
    /// position read-your-writes needs (see <see cref="CommitPosition"/>).
    /// </summary>
    internal bool WantsCommitPosition(SqlClassification c, StatementRoute route, Lease lease)
        => route.Kind == StatementKind.Write && c.Kind != StatementKind.TransactionControl && PositionsWritesOn(lease.Backend);

    // Outside a transaction, with read-your-writes on, on the primary: a write there is worth its commit position. A
    // data source of one backend has no standby that could serve a read after it, so nobody would use the position (a
    // causality token asks the primary for one when it is taken).
    private bool PositionsWritesOn(Backend backend)
        => !_session.InTransaction && _dataSource.Options.ReadYourWrites != ReadYourWritesScope.None
            && _dataSource.Backends.Length > 1
            && ReferenceEquals(_dataSource.Monitor.Current.Primary?.Backend, backend);
}

/// <summary>
/// A read's guard: the position the standby must have replayed, the age of the youngest write it covers when the guard
/// was given to the read about to be sent, whether the read tried below the standby's estimate to learn, and how long
/// the guard waits for replay on the standby.
/// </summary>
internal readonly record struct ReadGuardTicket(ulong Lsn, TimeSpan Age, bool Exploring, TimeSpan Wait)
{
    /// <summary>The guard for a read about to be sent, now, of a write acknowledged at <paramref name="writtenAt"/>.</summary>
    public static ReadGuardTicket Take(ulong lsn, long writtenAt, bool exploring, TimeSpan wait, TimeProvider time)
        => new(lsn, time.GetElapsedTime(writtenAt), exploring, wait);

    /// <summary>
    /// The write's age a pass or miss of this guard teaches the standby's estimate: its age when the read was sent plus
    /// the guard's wait. The guard ran on the standby after that and gave up at most <see cref="Wait"/> later, so a miss
    /// proves the standby had not replayed a write this old, and a pass that this age was enough, which is the age the
    /// estimate is compared with (<see cref="Topology.ReplayTracker.Expects"/>). The time the answer then took to reach
    /// the caller (a busy client, a slow network) proves nothing about replay, and is left out.
    /// </summary>
    public TimeSpan Taught => Age + Wait;
}
