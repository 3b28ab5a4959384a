using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Resilience;

/// <summary>
/// Internal signal (never escapes the library): an attempt failed in a way that is safe to run again, on the route
/// given. Carries the original exception for the final error when retries run out.
/// </summary>
internal sealed class RetryableFailure(StatementRoute route, Exception cause, Backend? backend, bool immediate)
    : Exception(cause.Message, cause)
{
    public StatementRoute Route { get; } = route;

    public Backend? Backend { get; } = backend;

    /// <summary>Re-run at once, without backoff (a 25006 reroute to the primary).</summary>
    public bool Immediate { get; } = immediate;
}
