using Npgsql;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Resilience;

/// <summary>
/// Decides what a failed statement means for the caller: re-run it (reads, 25006 refusals, failures before anything
/// was sent), or a <see cref="RoutingException"/> that says what was lost, or the original error untouched.
/// Also reacts to the failure: the backend becomes suspect, its idle connections are dropped and the monitor
/// re-probes at once.
/// </summary>
internal static class FailureTranslator
{
    /// <summary>A failure while acquiring a physical connection: nothing of the statement was sent.</summary>
    public static Exception BeforeSend(Exception e, IFailureSite conn, StatementRoute route, Backend? backend)
    {
        if (backend is not null && PermanentConnectionError.Advice(e) is not null)
        {
            OnLoginRejected(conn.FailureServices, backend);
            return new RetryableFailure(route, e, backend, immediate: false);
        }
        if (Kind(e) != FailureKind.ServerGone || backend is null)
            return e;
        OnServerGone(conn.FailureServices, backend, e);
        return new RetryableFailure(route, e, backend, immediate: false);
    }

    /// <summary>PostgreSQL's undefined_table.</summary>
    private const string UndefinedTable = "42P01";

    /// <summary>A failure after the statement may have been sent on <paramref name="lease"/>.</summary>
    public static Exception AfterSend(Exception e, IFailureSite conn, Lease lease, StatementRoute route)
    {
        var ds = conn.FailureServices;
        if (e is PostgresException { SqlState: UndefinedTable } && !lease.Pinned && conn.HoldsTemporaryObjects && !IsPrimary(ds, lease.Backend))
        {
            // A read of a session holding temporary tables that a standby says names no such table: it reads one
            // through something the router cannot see into (a function's body, a view). Nothing ran; the primary
            // session, which holds the tables, runs it.
            lease.Backend.CountReroute();
            ds.Metrics.Reroute(lease.Backend);
            return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary session after a standby lacked a table (42P01) in a session holding temporary tables" },
                e, lease.Backend, immediate: true);
        }
        switch (Kind(e, lease.Connection))
        {
            case FailureKind.ReadOnly when !lease.Pinned && !(conn.SetsReadOnlyDefault && IsPrimary(ds, lease.Backend)):
                lease.Backend.CountReroute();
                ds.Metrics.Reroute(lease.Backend);
                var primary = ds.Monitor.Current.Primary;
                if (primary is not null && ReferenceEquals(primary.Backend, lease.Backend))
                {
                    // The server we took for the primary refused a write: it changed role. Nothing ran, so re-run
                    // it once the monitor has found the new primary.
                    lease.Backend.MarkSuspect(ds.Time.GetTimestamp());
                    ds.Monitor.RequestProbe();
                    return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run after the primary turned read-only" }, e, lease.Backend, immediate: false);
                }
                if (lease.Backend.ShouldLogReroute(ds.Time.GetTimestamp(), ds.Time.TimestampFrequency))
                    Log.Rerouted(ds.Logger, lease.Backend.Name, primary?.Backend.Name);
                return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary after 25006" }, e, lease.Backend, immediate: true);
            case FailureKind.RecoveryRefusal or FailureKind.ReplayConflict when !IsPrimary(ds, lease.Backend):
                if (lease.Pinned)
                {
                    return new RoutingException(RoutingFailure.RefusedByStandby,
                        $"The standby {lease.Backend.Name} refused a statement of this read-only transaction ({Describe(e)}). The transaction is aborted: roll it back, then run the statement outside it or in a read-write transaction (on the primary).",
                        e, lease.Backend.Name, clusterState: ds.ClusterState);
                }
                lease.Backend.CountReroute();
                ds.Metrics.Reroute(lease.Backend);
                if (lease.Backend.ShouldLogReroute(ds.Time.GetTimestamp(), ds.Time.TimestampFrequency))
                    Log.Rerouted(ds.Logger, lease.Backend.Name, ds.Monitor.Current.Primary?.Backend.Name);
                // Nothing ran: a refusal is raised before the statement does anything, a replay conflict cancels a read.
                // Either is re-run at once on the primary, which has neither restriction.
                return new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary after a standby refused it" }, e, lease.Backend, immediate: true);
            case FailureKind.ServerGone:
                OnServerGone(ds, lease.Backend, e);
                if (lease.Pinned)
                    return conn.OnPinnedConnectionLost(e);
                // Session state set on a standby first changed nothing durable: re-run it as a read would be.
                if (route.Kind == StatementKind.Read || (route.SetsStateOnStandby && !IsPrimary(ds, lease.Backend)))
                    return new RetryableFailure(route, e, lease.Backend, immediate: false);
                return new RoutingException(RoutingFailure.ConnectionLost,
                    $"Lost the connection to {lease.Backend.Name} while a write was in flight: it may or may not have committed. Check before re-running it, or run it inside PgRoutingDataSource.ExecuteAsync with an idempotent unit.",
                    e, lease.Backend.Name, mayHaveCommitted: true, clusterState: ds.ClusterState);
            default:
                return lease.Connection.State == System.Data.ConnectionState.Open ? e : conn.OnBrokenByStatement(lease, e) ?? e;
        }
    }

    /// <summary>
    /// A commit that the server reported done although its wait for synchronous replication was cut short (see
    /// <see cref="Topology.CommitWarnings"/>): committed there, maybe on no standby, so never an acknowledgement.
    /// </summary>
    public static RoutingException CommitNotAcknowledged(IFailureSite conn, string backend)
        => new(RoutingFailure.ConnectionLost,
            $"The commit on {backend} was not acknowledged: its wait for synchronous replication was cut short (the statement was cancelled or timed out). It committed on {backend} but may be missing from the synchronous standbys, so a failover can lose it. Check before re-running it.",
            null, backend, mayHaveCommitted: true, clusterState: conn.FailureServices.ClusterState);

    /// <summary>A commit the library stopped waiting for (the server hung, the caller cancelled, or it outlasted its timeout) without cancelling it.</summary>
    public static RoutingException CommitAbandoned(IFailureSite conn, string backend, string why, Exception? cause)
        => new(RoutingFailure.ConnectionLost,
            $"Gave up waiting for the commit on {backend} ({why}); it was not cancelled and may or may not have committed. Check before re-running it.",
            cause, backend, mayHaveCommitted: true, clusterState: conn.FailureServices.ClusterState);

    /// <summary>
    /// A COMMIT that failed: an ordinary server error (serialization failure, deferred constraint) means it did not
    /// commit and is reported as it is; anything else leaves the outcome unknown.
    /// </summary>
    public static Exception AtCommit(Exception e, IFailureSite conn, Backend backend)
    {
        var kind = Kind(e);
        if (e is PostgresException && kind == FailureKind.Other)
            return e;
        OnServerGone(conn.FailureServices, backend, e);
        return new RoutingException(RoutingFailure.ConnectionLost,
            $"The connection to {backend.Name} was lost during COMMIT: the transaction may or may not have committed. Check before re-running it.",
            e, backend.Name, mayHaveCommitted: true, clusterState: conn.FailureServices.ClusterState);
    }

    /// <summary>
    /// A failure while a write's reader was read to its end or closed: the statement ran, and its commit (outside a
    /// transaction) happens there. Anything but an ordinary server error leaves the write's fate unknown.
    /// </summary>
    public static Exception AtWriteResultEnd(Exception e, IFailureSite conn, Lease lease, StatementRoute route)
    {
        var translated = AfterSend(e, conn, lease, route);
        if (translated is not RetryableFailure && (!ReferenceEquals(translated, e) || e is PostgresException))
            return translated; // lost as AfterSend says, or an ordinary server error (the write did not commit)
        // The driver failed in a way that says nothing about the server (its state is unknown): never reuse what it
        // left behind, and report the write as possibly committed.
        OnServerGone(conn.FailureServices, lease.Backend, e);
        if (lease.Pinned)
            return conn.OnPinnedConnectionLost(e);
        return new RoutingException(RoutingFailure.ConnectionLost,
            $"The connection to {lease.Backend.Name} failed while a write's results were read: it may or may not have committed. Check before re-running it.",
            e, lease.Backend.Name, mayHaveCommitted: true, clusterState: conn.FailureServices.ClusterState);
    }

    private static bool IsPrimary(FailureServices ds, Backend backend)
        => ds.Monitor.Current.Primary is { } p && ReferenceEquals(p.Backend, backend);

    private static string Describe(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException pe)
                return $"{pe.SqlState}: {pe.MessageText}";
        }
        return e.Message;
    }

    private static FailureKind Kind(Exception e, Npgsql.NpgsqlConnection? connection = null)
    {
        // The monitor took the backend out of service (down, fenced or demoted) while the operation waited: the server
        // is gone. Callers filter out their own token's cancellation; DbCommand.Cancel() surfaces as a cancellation
        // with a token that never fired (and 57014 inside): an ordinary error.
        if (e is BackendOutOfServiceException)
            return FailureKind.ServerGone;
        if (e is OperationCanceledException oce)
            return oce.CancellationToken.IsCancellationRequested ? FailureKind.ServerGone : FailureKind.Other;
        var kind = ErrorClassifier.Classify(e);
        // A command timeout that the server answered (the cancellation worked, the connection is still open) is a
        // slow statement on a live server, not a lost one.
        if (kind == FailureKind.ServerGone && e is not PostgresException && connection is { State: System.Data.ConnectionState.Open })
            return FailureKind.Other;
        return kind;
    }

    /// <summary>
    /// The server refused a new login for good (a password changed, a database dropped) while the probes' sessions,
    /// logged in before, still answer: those are dropped, so that the next probe logs in anew and takes the backend
    /// out of service with the reason (event 1017). Nothing was sent: a read is re-run elsewhere, a write once the
    /// monitor has decided (<see cref="RoutingFailure.Misconfigured"/> when no other server can be the primary).
    /// </summary>
    private static void OnLoginRejected(FailureServices ds, Backend backend)
    {
        backend.MarkSuspect(ds.Time.GetTimestamp());
        backend.ProbePool.Clear();
        ds.Monitor.RequestProbe();
    }

    private static void OnServerGone(FailureServices ds, Backend backend, Exception e)
    {
        backend.MarkSuspect(ds.Time.GetTimestamp());
        Log.ConnectionErrorReprobe(ds.Logger, backend.Name, e.Message);
        // Idle pooled connections to a dead server would each fail once more; drop them so the next attempt opens
        // a fresh one, which fails before anything is sent (and so is safe to retry).
        backend.Pool.Clear();
        ds.Monitor.RequestProbe();
    }
}
