using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>
/// Turns a classification into a route: a Read may go to a standby only when every function it calls is known to be
/// safe there and it mentions no unlogged table; a <c>/* route: primary */</c> hint keeps a read on the primary; a <c>/* route: standby */</c> hint
/// vouches for unresolved functions but never turns a Write into a Read. Stateless and allocation-free.
/// </summary>
internal sealed class Router(FunctionVolatilityCache volatility, UnloggedRelationCache unlogged)
{
    public StatementRoute Route(SqlClassification c)
    {
        if (c.Kind != StatementKind.Read)
            return new StatementRoute(c.Kind, false, c.Reason ?? "not a read");
        if (c.Hint == RouteHint.Primary)
            return new StatementRoute(StatementKind.Read, false, "hint: primary");
        if (unlogged.Touches(c))
            return new StatementRoute(StatementKind.Read, false, "reads an unlogged table");
        if (c.Hint == RouteHint.Standby)
            return new StatementRoute(StatementKind.Read, true, "hint: standby");
        var functions = c.Functions;
        for (var i = 0; i < functions.Count; i++)
        {
            switch (volatility.Get(functions[i]))
            {
                case FunctionSafety.Write:
                    return new StatementRoute(StatementKind.Write, false, "calls a volatile function");
                case FunctionSafety.Unknown:
                    return new StatementRoute(StatementKind.Write, false, "calls a function of unknown volatility", AwaitsFunctionLookup: true);
            }
        }
        return new StatementRoute(StatementKind.Read, true, "read");
    }

    /// <summary>Whether the read in <paramref name="c"/> (a PREPARE's body, say) may run on a standby: no hint against it, every function known safe there.</summary>
    public bool MayRunOnStandby(SqlClassification c)
    {
        if (c.Hint == RouteHint.Primary || unlogged.Touches(c))
            return false;
        var functions = c.Functions;
        for (var i = 0; i < functions.Count; i++)
        {
            if (volatility.Get(functions[i]) != FunctionSafety.Read && c.Hint != RouteHint.Standby)
                return false;
        }
        return true;
    }
}
