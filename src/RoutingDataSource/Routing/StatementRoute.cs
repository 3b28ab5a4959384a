using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>The routing verdict for one statement outside a pinned session: its effective kind and whether a standby may serve it.</summary>
internal readonly record struct StatementRoute(StatementKind Kind, bool StandbyAllowed, string Reason, bool AwaitsFunctionLookup = false)
{
    public static readonly StatementRoute PrimaryWrite = new(StatementKind.Write, false, "write");

    /// <summary>Session state sent to a standby session first (<see cref="SessionRouter.SetsOnStandby"/>): nothing durable, re-run on the primary if refused.</summary>
    public bool SetsStateOnStandby => Kind == StatementKind.SessionState && StandbyAllowed;

    /// <summary>
    /// Whether this route needs more than <paramref name="other"/> (a batch runs where its strongest statement must):
    /// the kinds in <see cref="StatementKindStrength"/>'s order, and within a kind, the primary over a standby.
    /// </summary>
    public bool IsStrongerThan(in StatementRoute other) => Strength > other.Strength;

    private int Strength => (StatementKindStrength.Of(Kind) * 2) + (StandbyAllowed ? 0 : 1);
}
