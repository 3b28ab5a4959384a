using System.Diagnostics;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Diagnostics;

/// <summary>
/// Tracing: one activity per routed statement attempt on the <c>RoutingDataSource</c> source, carrying the routing
/// decision. Npgsql's own activity for the statement (when enabled) becomes its child. Costs nothing without a listener.
/// </summary>
internal static class RoutingActivity
{
    public const string SourceName = "RoutingDataSource";

    private static readonly ActivitySource Source = new(SourceName, typeof(RoutingActivity).Assembly.GetName().Version?.ToString());

    public static Activity? Start(ILeaseOwner connection, Lease lease, in StatementRoute route)
    {
        if (!Source.HasListeners())
            return null;
        var activity = Source.StartActivity("route", ActivityKind.Internal);
        if (activity is null)
            return null;
        var backend = lease.Backend;
        var onPrimary = connection.IsOnPrimary(lease);
        activity.SetTag("db.system.name", "postgresql");
        activity.SetTag("server.address", backend.Host);
        activity.SetTag("server.port", backend.Port);
        activity.SetTag("routing.backend", backend.Name);
        activity.SetTag("routing.role", onPrimary ? "primary" : "standby");
        activity.SetTag("routing.kind", RoutingMetrics.KindName(route.Kind));
        activity.SetTag("routing.reason", route.Reason);
        return activity;
    }

    public static void Fail(Activity? activity, Exception e)
    {
        if (activity is null)
            return;
        activity.SetStatus(ActivityStatusCode.Error, e.Message);
        activity.SetTag("error.type", e.GetType().FullName);
    }
}
