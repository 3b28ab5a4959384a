using Microsoft.Extensions.Logging.Abstractions;
using RoutingDataSource.Classification;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Tests.Routing;

/// <summary>The statement router as a pure function of the classification and what is known of the functions it calls.</summary>
public sealed class RouterTests
{
    private static readonly UnloggedRelationCache Unlogged = NewUnlogged();

    private static readonly Router Router = new(new FunctionVolatilityCache(
        readOnly: ["app.report_total"], write: ["app.audit_read"], NullLogger.Instance, TimeProvider.System), Unlogged);

    private static readonly SqlClassifier Classifier = new(cacheCapacity: 0);

    private static UnloggedRelationCache NewUnlogged()
    {
        var unlogged = new UnloggedRelationCache(NullLogger.Instance, TimeProvider.System);
        unlogged.Learn("scratch");
        return unlogged;
    }

    [Theory]
    [InlineData("SELECT count(*) FROM scratch")]
    [InlineData("SELECT * FROM public.Scratch s JOIN items i ON i.id = s.id")]
    [InlineData("/* route: standby */ TABLE scratch")]
    public void A_read_of_an_unlogged_table_goes_to_the_primary(string sql)
    {
        var route = Router.Route(Classifier.Classify(sql));
        Assert.Equal(StatementKind.Read, route.Kind);
        Assert.False(route.StandbyAllowed);
        Assert.Equal("reads an unlogged table", route.Reason);
        Assert.True(Router.Route(Classifier.Classify("SELECT * FROM items")).StandbyAllowed);
    }

    [Theory]
    [InlineData("SELECT 1", StatementKind.Read, true, "read")]
    [InlineData("SELECT random(), clock_timestamp()", StatementKind.Read, true, "read")] // volatile built-ins that only read
    [InlineData("SELECT app.report_total(1)", StatementKind.Read, true, "read")] // forced read-only by the options
    [InlineData("SELECT app.audit_read(1)", StatementKind.Write, false, "calls a volatile function")] // forced write by the options
    [InlineData("SELECT app.never_seen(1)", StatementKind.Write, false, "calls a function of unknown volatility")]
    [InlineData("/* route: primary */ SELECT 1", StatementKind.Read, false, "hint: primary")]
    [InlineData("/* route: standby */ SELECT app.never_seen(1)", StatementKind.Read, true, "hint: standby")] // the hint vouches for it
    public void A_read_goes_to_a_standby_only_when_every_function_it_calls_is_known_safe(string sql, StatementKind kind, bool standby, string reason)
    {
        var route = Router.Route(Classifier.Classify(sql));
        Assert.Equal((kind, standby, reason), (route.Kind, route.StandbyAllowed, route.Reason));
    }

    [Fact]
    public void A_function_of_unknown_volatility_asks_for_a_lookup_and_the_others_do_not()
    {
        Assert.True(Router.Route(Classifier.Classify("SELECT app.never_seen(1)")).AwaitsFunctionLookup);
        Assert.False(Router.Route(Classifier.Classify("SELECT app.audit_read(1)")).AwaitsFunctionLookup);
        Assert.False(Router.Route(Classifier.Classify("SELECT 1")).AwaitsFunctionLookup);
    }

    [Theory]
    [InlineData("INSERT INTO t VALUES (1)")]
    [InlineData("/* route: standby */ UPDATE t SET a = 1")] // a hint never turns a write into a read
    [InlineData("SELECT * FROM t FOR UPDATE")]
    [InlineData("CREATE TABLE t (a int)")]
    public void A_write_always_goes_to_the_primary(string sql)
    {
        var route = Router.Route(Classifier.Classify(sql));
        Assert.False(route.StandbyAllowed);
        Assert.NotEqual(StatementKind.Read, route.Kind);
    }
}
