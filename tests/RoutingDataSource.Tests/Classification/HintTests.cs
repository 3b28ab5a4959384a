using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

public sealed class HintTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Theory]
    [InlineData("/* route: standby */ SELECT 1", RouteHint.Standby)]
    [InlineData("/* route: primary */ SELECT 1", RouteHint.Primary)]
    [InlineData("-- route: primary\nSELECT 1", RouteHint.Primary)]
    [InlineData("/* app=billing, ROUTE:STANDBY, request=42 */ SELECT 1", RouteHint.Standby)]
    [InlineData("/* first */ -- route:standby\n SELECT 1", RouteHint.Standby)]
    [InlineData("/* nested /* route: standby */ still */ SELECT 1", RouteHint.Standby)]
    [InlineData("SELECT 1", RouteHint.None)]
    [InlineData("/* routed somewhere */ SELECT 1", RouteHint.None)]
    [InlineData("/* reroute: standby */ SELECT 1", RouteHint.None)]
    [InlineData("/* route: standbyish */ SELECT 1", RouteHint.None)]
    public void Hint_is_read_anywhere_in_a_leading_comment(string sql, RouteHint expected)
    {
        Assert.Equal(expected, Classify(sql).Hint);
    }

    [Fact]
    public void Hint_after_the_first_token_is_ignored()
    {
        Assert.Equal(RouteHint.None, Classify("SELECT 1 /* route: standby */").Hint);
        Assert.Equal(RouteHint.None, Classify("SELECT 1; /* route: primary */ SELECT 2").Hint);
    }

    [Fact]
    public void Primary_wins_when_both_hints_are_written()
    {
        Assert.Equal(RouteHint.Primary, Classify("/* route: standby */ /* route: primary */ SELECT 1").Hint);
    }

    [Theory]
    [InlineData("/* route: standby */ INSERT INTO t VALUES (1)", StatementKind.Write)]
    [InlineData("/* route: standby */ SELECT nextval('s')", StatementKind.Write)]
    [InlineData("/* route: standby */ SELECT * FROM t FOR UPDATE", StatementKind.Write)]
    [InlineData("/* route: standby */ SET a = 1", StatementKind.SessionState)]
    [InlineData("/* route: primary */ SELECT 1", StatementKind.Read)]
    public void Hint_never_changes_the_kind(string sql, StatementKind expected)
    {
        Assert.Equal(expected, Classify(sql).Kind);
    }
}
