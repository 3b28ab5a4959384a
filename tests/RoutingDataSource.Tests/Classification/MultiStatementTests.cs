using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

public sealed class MultiStatementTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Theory]
    [InlineData("SELECT 1; SELECT 2", StatementKind.Read)]
    [InlineData("SELECT 1; COMMIT", StatementKind.TransactionControl)]
    [InlineData("BEGIN; SELECT 1", StatementKind.TransactionControl)]
    [InlineData("SELECT 1; INSERT INTO t VALUES (1)", StatementKind.Write)]
    [InlineData("BEGIN; INSERT INTO t VALUES (1); COMMIT", StatementKind.Write)]
    [InlineData("INSERT INTO t VALUES (1); SET a = 1", StatementKind.SessionState)]
    [InlineData("SET a = 1; INSERT INTO t VALUES (1)", StatementKind.SessionState)]
    [InlineData("BEGIN; LISTEN c; COMMIT", StatementKind.SessionState)]
    public void Strongest_kind_wins(string sql, StatementKind expected)
    {
        Assert.Equal(expected, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("SELECT 1", true)]
    [InlineData("(SELECT 1) UNION (SELECT 2)", true)]
    [InlineData("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", true)]
    [InlineData("insert into t values (1); UPDATE t SET c = 2; delete from t; MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", true)]
    [InlineData("VALUES (1)", true)]
    [InlineData("TABLE t", true)]
    [InlineData("VACUUM t", false)]
    [InlineData("CREATE INDEX CONCURRENTLY i ON t (c)", false)]
    [InlineData("REINDEX TABLE CONCURRENTLY t", false)]
    [InlineData("CREATE DATABASE d", false)]
    [InlineData("ALTER SYSTEM SET work_mem = '8MB'", false)]
    [InlineData("CALL p()", false)]
    [InlineData("INSERT INTO t VALUES (1); VACUUM t", false)]
    [InlineData("SELECT 'unterminated", false)]
    [InlineData("", false)]
    public void Plain_DML_is_only_queries_and_DML_that_may_share_an_implicit_transaction(string sql, bool expected)
    {
        Assert.Equal(expected, Classify(sql).IsPlainDml);
    }

    [Fact]
    public void Strength_order_is_read_transaction_control_write_session_state()
    {
        StatementKind[] ordered = [StatementKind.Read, StatementKind.TransactionControl, StatementKind.Write, StatementKind.SessionState];
        for (int i = 1; i < ordered.Length; i++)
        {
            Assert.True(StatementKindStrength.IsStronger(ordered[i], ordered[i - 1]));
        }
    }

    [Fact]
    public void Reason_comes_from_the_statement_that_decided_the_kind()
    {
        Assert.Equal("DELETE", Classify("SELECT 1; DELETE FROM t; SELECT 2").Reason);
    }

    [Fact]
    public void Transaction_control_reports_the_first_such_statement_whatever_the_kind()
    {
        var c = Classify("SELECT 1; BEGIN; INSERT INTO t VALUES (1); COMMIT");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(TransactionControlKind.Begin, c.TransactionControl);
        Assert.Equal(4, c.StatementCount);
    }

    [Fact]
    public void Functions_of_all_statements_are_listed()
    {
        Assert.Equal(["upper", "lower"], Classify("SELECT upper('a'); SELECT lower('B'), upper('c')").Functions);
    }

    [Fact]
    public void Empty_statements_between_semicolons_are_not_counted()
    {
        Assert.Equal(2, Classify(";; SELECT 1 ;; ; SELECT 2;").StatementCount);
    }

    [Fact]
    public void Semicolons_inside_a_begin_atomic_body_do_not_split_the_function()
    {
        const string sql = """
            CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql
            BEGIN ATOMIC
              SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;
              SELECT a + 1;
            END;
            SELECT 3
            """;
        var c = Classify(sql);
        Assert.Equal(2, c.StatementCount);
        Assert.Equal(TransactionControlKind.None, c.TransactionControl);
        Assert.Equal(StatementKind.Write, c.Kind);
    }

    [Fact]
    public void Begin_outside_a_routine_definition_is_a_statement_of_its_own()
    {
        var c = Classify("CREATE TABLE t (a int); BEGIN; END");
        Assert.Equal(3, c.StatementCount);
        Assert.Equal(TransactionControlKind.Begin, c.TransactionControl);
    }
}
