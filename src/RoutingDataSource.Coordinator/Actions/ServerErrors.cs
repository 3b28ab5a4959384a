using Npgsql;

namespace RoutingDataSource.Coordinator.Actions;

/// <summary>Which failures of an action are the server's (logged, retried later), as opposed to the coordinator stopping.</summary>
internal static class ServerErrors
{
    public static bool Matches(Exception e, CancellationToken stop) =>
        e is NpgsqlException or IOException or TimeoutException or InvalidOperationException
        || (e is OperationCanceledException && !stop.IsCancellationRequested);
}
