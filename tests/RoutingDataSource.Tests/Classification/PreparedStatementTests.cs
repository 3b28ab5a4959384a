using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

public sealed class PreparedStatementTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Theory]
    [InlineData("PREPARE q AS SELECT * FROM t WHERE a = $1", "q", StatementKind.Read)]
    [InlineData("PREPARE Ins (int, text) AS INSERT INTO t VALUES ($1, $2)", "ins", StatementKind.Write)]
    [InlineData("PREPARE \"MyQuery\" AS SELECT 1", "\"MyQuery\"", StatementKind.Read)]
    [InlineData("PREPARE n AS SELECT nextval('s')", "n", StatementKind.Write)]
    [InlineData("PREPARE l AS SELECT * FROM t FOR UPDATE", "l", StatementKind.Write)]
    [InlineData("PREPARE w AS WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "w", StatementKind.Write)]
    public void Prepare_is_session_state_and_remembers_the_kind_of_its_body(string sql, string name, StatementKind bodyKind)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.SessionState, c.Kind);
        Assert.Equal(name, c.PreparedStatementName);
        Assert.Equal(bodyKind, c.PreparedStatementKind);
    }

    [Fact]
    public void Prepare_lists_the_functions_of_its_body_for_the_router_to_resolve()
    {
        Assert.Equal(["my_function"], Classify("PREPARE p AS SELECT my_function($1)").Functions);
    }

    [Fact]
    public void Execute_names_the_prepared_statement_and_is_a_write_until_the_session_knows_better()
    {
        var c = Classify("EXECUTE Q(1, 'x')");
        Assert.Equal("q", c.ExecutedStatementName);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Null(c.PreparedStatementName);
    }

    [Fact]
    public void Execute_parameters_are_evaluated_so_their_calls_count()
    {
        var c = Classify("EXECUTE q(pg_advisory_lock(1))");
        Assert.Equal(StatementKind.SessionState, c.Kind);
        Assert.Equal(["pg_advisory_lock"], c.Functions);
    }

    [Fact]
    public void Explain_analyze_execute_names_the_prepared_statement()
    {
        Assert.Equal("q", Classify("EXPLAIN ANALYZE EXECUTE q(1)").ExecutedStatementName);
    }

    [Fact]
    public void Deallocate_is_session_state()
    {
        Assert.Equal(StatementKind.SessionState, Classify("DEALLOCATE PREPARE q").Kind);
    }

    [Fact]
    public void Prepare_and_execute_in_one_text_report_both_names()
    {
        var c = Classify("PREPARE q AS SELECT 1; EXECUTE q");
        Assert.Equal(StatementKind.SessionState, c.Kind);
        Assert.Equal("q", c.PreparedStatementName);
        Assert.Equal(StatementKind.Read, c.PreparedStatementKind);
        Assert.Equal("q", c.ExecutedStatementName);
        Assert.Equal(2, c.StatementCount);
    }
}
