using System.Data.Common;
using Npgsql;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Resilience;

/// <summary>
/// Runs a unit of work as one transaction and commits it; when the transaction is lost to a failover or to a
/// serialization failure or deadlock (40001, 40P01), runs the whole unit again on a fresh connection through the
/// failover retry, for up to <see cref="RoutingOptions.FailoverTimeout"/>. Never again once the COMMIT itself failed
/// (it may have committed). Generic in the connection, so it knows nothing of how connections are routed.
/// </summary>
internal sealed class UnitOfWork(FailoverRetry failover, TopologyMonitor monitor, Backend[] backends)
{
    public async Task<T> RunAsync<TConnection, T>(Func<CancellationToken, ValueTask<TConnection>> open,
        Func<TConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        where TConnection : DbConnection
    {
        try
        {
            return await RunOnceAsync(open, work, cancellationToken).ConfigureAwait(false);
        }
        catch (RetryableFailure first)
        {
            failover.Count(first.Backend);
            return await failover.RunAsync(first.Route, (_, ct) => RunOnceAsync(open, work, ct), cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask<T> RunOnceAsync<TConnection, T>(Func<CancellationToken, ValueTask<TConnection>> open,
        Func<TConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        where TConnection : DbConnection
    {
        await using var conn = await open(cancellationToken).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        T result;
        try
        {
            result = await work(conn, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (MayRerun(e))
        {
            throw new RetryableFailure(StatementRoute.PrimaryWrite, e, BackendOf(e), immediate: false);
        }
        try
        {
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is "40001" or "40P01")
        {
            throw new RetryableFailure(StatementRoute.PrimaryWrite, e, null, immediate: false); // refused at commit: nothing committed
        }
        catch (Exception e) when (MayRerun(e) && e is not RoutingException { Failure: RoutingFailure.NoPrimary })
        {
            throw new RoutingException(RoutingFailure.ConnectionLost,
                "The connection was lost during COMMIT: the unit of work may or may not have committed, so it was not run again. Check before re-running it.",
                e, BackendOf(e)?.Name, mayHaveCommitted: true, clusterState: monitor.Current.ProblemMessage);
        }
        return result;
    }

    /// <summary>Which failures inside a unit let the whole unit run again.</summary>
    public static bool MayRerun(Exception e) => e switch
    {
        RoutingException r => r.Failure is RoutingFailure.TransactionLost or RoutingFailure.NoPrimary or RoutingFailure.RetriesExhausted
            || (r.Failure == RoutingFailure.ConnectionLost && !r.MayHaveCommitted),
        PostgresException { SqlState: "40001" or "40P01" } => true,
        RetryableFailure => true,
        _ => ErrorClassifier.Classify(e) is FailureKind.ServerGone or FailureKind.ReadOnly,
    };

    private Backend? BackendOf(Exception e)
        => e is RoutingException { BackendName: { } name } ? Array.Find(backends, b => b.Name == name) : null;
}
