using RoutingDataSource.Classification;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Tests.Routing;

/// <summary>One strength order for statements and routes: a batch runs where its strongest statement must.</summary>
public sealed class RouteStrengthTests
{
    [Fact]
    public void Routes_follow_the_statement_kind_order_and_the_primary_outranks_a_standby_within_a_kind()
    {
        StatementRoute[] ordered =
        [
            new(StatementKind.Read, StandbyAllowed: true, "read"),
            new(StatementKind.Read, StandbyAllowed: false, "hint: primary"),
            new(StatementKind.TransactionControl, StandbyAllowed: false, "tc"),
            StatementRoute.PrimaryWrite,
            new(StatementKind.SessionState, StandbyAllowed: false, "set"),
        ];
        for (var i = 1; i < ordered.Length; i++)
        {
            Assert.True(ordered[i].IsStrongerThan(ordered[i - 1]), $"{ordered[i].Reason} over {ordered[i - 1].Reason}");
            Assert.False(ordered[i - 1].IsStrongerThan(ordered[i]));
        }
        Assert.False(StatementRoute.PrimaryWrite.IsStrongerThan(StatementRoute.PrimaryWrite)); // a tie keeps the first
    }
}
