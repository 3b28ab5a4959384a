using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>The routing verdict for one statement outside a pinned session: its effective kind and whether a standby may serve it.</summary>
internal readonly record struct StatementRoute(StatementKind Kind, bool StandbyAllowed, string Reason, bool AwaitsFunctionLookup = false)
{
    public static readonly StatementRoute PrimaryWrite = new(StatementKind.Write, false, "write");
}
