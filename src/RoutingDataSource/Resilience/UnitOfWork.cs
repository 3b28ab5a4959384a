using Npgsql;

namespace RoutingDataSource.Resilience;

/// <summary>Which failures inside <c>PgRoutingDataSource.ExecuteAsync</c> let the whole unit run again.</summary>
internal static class UnitOfWork
{
    public static bool MayRerun(Exception e) => e switch
    {
        RoutingException r => r.Failure is RoutingFailure.TransactionLost or RoutingFailure.NoPrimary or RoutingFailure.RetriesExhausted
            || (r.Failure == RoutingFailure.ConnectionLost && !r.MayHaveCommitted),
        PostgresException { SqlState: "40001" or "40P01" } => true,
        RetryableFailure => true,
        _ => ErrorClassifier.Classify(e) is FailureKind.ServerGone or FailureKind.ReadOnly,
    };

    public static Topology.Backend? BackendOf(Exception e, PgRoutingDataSource ds)
        => e is RoutingException { BackendName: { } name } ? Array.Find(ds.Backends, b => b.Name == name) : null;
}
