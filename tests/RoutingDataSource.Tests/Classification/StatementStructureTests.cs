using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

/// <summary>Statement-level rules of DESIGN.md, "Routing rules".</summary>
public sealed class StatementStructureTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Theory]
    [InlineData("SELECT * FROM t WHERE a = 1")]
    [InlineData("select a, b from t join u using (id) order by 1 limit 10")]
    [InlineData("(SELECT 1) UNION ALL (SELECT 2)")]
    [InlineData("VALUES (1, 'a'), (2, 'b')")]
    [InlineData("TABLE t")]
    [InlineData("SHOW search_path")]
    [InlineData("SHOW ALL")]
    [InlineData("WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2) SELECT * FROM a, b")]
    [InlineData("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r")]
    [InlineData("WITH RECURSIVE s AS (SELECT 1 AS id) SEARCH DEPTH FIRST BY id SET ord SELECT * FROM s")]
    [InlineData("WITH RECURSIVE s AS (SELECT 1 AS id) CYCLE id SET is_cycle USING path SELECT * FROM s")]
    [InlineData("SELECT * FROM t FOR READ ONLY")]
    [InlineData("SELECT b.\"Id\", p.\"Title\" FROM \"Blogs\" AS b LEFT JOIN \"Posts\" AS p ON b.\"Id\" = p.\"BlogId\" WHERE b.\"Rating\" > @__minRating_0 ORDER BY b.\"Id\" LIMIT @__p_1")]
    public void Query_that_only_reads_is_a_read(string sql)
    {
        Assert.Equal(StatementKind.Read, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("INSERT INTO t VALUES (1)", "INSERT")]
    [InlineData("UPDATE t SET a = 1", "UPDATE")]
    [InlineData("DELETE FROM t", "DELETE")]
    [InlineData("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", "MERGE")]
    public void Data_modification_is_a_write(string sql, string reason)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(reason, c.Reason);
    }

    [Theory]
    [InlineData("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d")]
    [InlineData("WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u")]
    [InlineData("WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i")]
    [InlineData("WITH m AS NOT MATERIALIZED (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE) SELECT 1")]
    [InlineData("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a")]
    [InlineData("WITH a AS (SELECT 1), b(x) AS (SELECT 2) DELETE FROM t")]
    [InlineData("WITH a AS (WITH b AS (DELETE FROM t RETURNING *) SELECT * FROM b) SELECT * FROM a")]
    [InlineData("SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s")]
    [InlineData("WITH RECURSIVE s AS (SELECT 1 AS id) SEARCH BREADTH FIRST BY id SET ord INSERT INTO t SELECT id FROM s")]
    public void With_containing_a_data_modifying_statement_at_any_depth_is_a_write(string sql)
    {
        Assert.Equal(StatementKind.Write, Classify(sql).Kind);
    }

    [Fact]
    public void With_clause_that_is_not_understood_is_a_write()
    {
        Assert.Equal(StatementKind.Write, Classify("WITH a SELECT 1").Kind);
    }

    [Theory]
    [InlineData("SELECT * INTO t2 FROM t")]
    [InlineData("SELECT * INTO TABLE t2 FROM t")]
    [InlineData("SELECT * INTO UNLOGGED t2 FROM t")]
    [InlineData("WITH a AS (SELECT 1) SELECT * INTO t2 FROM a")]
    public void Select_into_is_a_write(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.StartsWith("SELECT ... INTO", c.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT * INTO TEMP t2 FROM t")]
    [InlineData("SELECT * INTO LOCAL TEMPORARY t2 FROM t")]
    [InlineData("SELECT * INTO pg_temp.t2 FROM t")]
    public void Select_into_a_temporary_table_is_session_state(string sql)
    {
        Assert.Equal(StatementKind.SessionState, Classify(sql).Kind);
    }

    [Fact]
    public void Insert_into_inside_with_is_not_select_into()
    {
        Assert.Equal("data-modifying statement inside WITH or a subquery", Classify("WITH i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1").Reason);
    }

    [Theory]
    [InlineData("SELECT * FROM t FOR UPDATE", "SELECT ... FOR UPDATE")]
    [InlineData("SELECT * FROM t FOR NO KEY UPDATE OF t SKIP LOCKED", "SELECT ... FOR NO KEY UPDATE")]
    [InlineData("SELECT * FROM t FOR SHARE NOWAIT", "SELECT ... FOR SHARE")]
    [InlineData("SELECT * FROM t FOR KEY SHARE", "SELECT ... FOR KEY SHARE")]
    [InlineData("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", "SELECT ... FOR UPDATE")]
    public void Locking_clause_is_a_write(string sql, string reason)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(reason, c.Reason);
    }

    [Theory]
    [InlineData("EXPLAIN SELECT * FROM t")]
    [InlineData("EXPLAIN INSERT INTO t VALUES (1)")]
    [InlineData("EXPLAIN (COSTS OFF, VERBOSE) DELETE FROM t")]
    [InlineData("EXPLAIN (ANALYZE false) DELETE FROM t")]
    [InlineData("EXPLAIN (ANALYZE off, COSTS off) UPDATE t SET a = 1")]
    [InlineData("EXPLAIN VERBOSE SELECT 1")]
    [InlineData("EXPLAIN (SELECT 1) UNION (SELECT 2)")]
    [InlineData("EXPLAIN ANALYZE SELECT * FROM t")]
    [InlineData("EXPLAIN (ANALYZE, BUFFERS) SELECT upper(a) FROM t")]
    public void Explain_that_executes_nothing_or_only_reads_is_a_read(string sql)
    {
        Assert.Equal(StatementKind.Read, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("EXPLAIN ANALYZE INSERT INTO t VALUES (1)")]
    [InlineData("EXPLAIN ANALYSE DELETE FROM t")]
    [InlineData("EXPLAIN (ANALYZE, COSTS OFF) UPDATE t SET a = 1")]
    [InlineData("EXPLAIN (COSTS OFF, ANALYZE true) DELETE FROM t")]
    [InlineData("EXPLAIN ANALYZE VERBOSE SELECT * FROM t FOR UPDATE")]
    [InlineData("EXPLAIN (ANALYZE) CREATE TABLE t2 AS SELECT 1")]
    [InlineData("EXPLAIN ANALYZE SELECT nextval('s')")]
    public void Explain_analyze_of_a_write_is_a_write(string sql)
    {
        Assert.Equal(StatementKind.Write, Classify(sql).Kind);
    }

    [Fact]
    public void Explain_without_analyze_lists_no_functions_because_it_runs_none()
    {
        var c = Classify("EXPLAIN SELECT nextval('s'), my_function(1)");
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Empty(c.Functions);
    }

    [Theory]
    [InlineData("COPY t TO STDOUT", StatementKind.Read)]
    [InlineData("COPY t (a, b) TO STDOUT WITH (FORMAT csv)", StatementKind.Read)]
    [InlineData("COPY public.t TO '/tmp/t.csv'", StatementKind.Read)]
    [InlineData("COPY (SELECT * FROM t WHERE a > 1) TO STDOUT", StatementKind.Read)]
    [InlineData("COPY (DELETE FROM t RETURNING *) TO STDOUT", StatementKind.Write)]
    [InlineData("COPY t FROM STDIN", StatementKind.Write)]
    [InlineData("COPY t (a) FROM '/tmp/t.csv' WITH (FORMAT csv)", StatementKind.Write)]
    [InlineData("COPY BINARY t FROM STDIN", StatementKind.Write)]
    [InlineData("COPY t TO PROGRAM 'gzip > /tmp/t.gz'", StatementKind.Write)]
    public void Copy_to_reads_and_copy_from_writes(string sql, StatementKind expected)
    {
        Assert.Equal(expected, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("DECLARE c CURSOR FOR SELECT * FROM t", StatementKind.Read)]
    [InlineData("DECLARE c BINARY INSENSITIVE NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", StatementKind.Read)]
    [InlineData("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", StatementKind.SessionState)]
    [InlineData("DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT 1", StatementKind.SessionState)]
    [InlineData("DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE", StatementKind.Write)]
    [InlineData("DECLARE c CURSOR FOR SELECT nextval('s')", StatementKind.Write)]
    [InlineData("DECLARE c CURSOR", StatementKind.Write)]
    public void Declare_cursor_follows_its_query_and_hold_pins_the_session(string sql, StatementKind expected)
    {
        Assert.Equal(expected, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("FETCH 10 FROM c")]
    [InlineData("MOVE NEXT IN c")]
    [InlineData("CLOSE c")]
    public void Cursor_operations_run_where_the_cursor_lives(string sql)
    {
        Assert.Equal(StatementKind.Read, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("CALL do_things(1)")]
    [InlineData("DO $$BEGIN PERFORM 1; END$$")]
    [InlineData("DO LANGUAGE plpgsql $$BEGIN NULL; END$$")]
    [InlineData("LOCK TABLE t IN ACCESS SHARE MODE")]
    [InlineData("NOTIFY channel, 'payload'")]
    [InlineData("VACUUM t")]
    [InlineData("VACUUM (VERBOSE, ANALYZE) t")]
    [InlineData("ANALYZE t")]
    [InlineData("ANALYSE")]
    [InlineData("CLUSTER t USING t_pkey")]
    [InlineData("REINDEX TABLE t")]
    [InlineData("REFRESH MATERIALIZED VIEW mv")]
    [InlineData("CHECKPOINT")]
    [InlineData("TRUNCATE t")]
    [InlineData("CREATE TABLE t (a int)")]
    [InlineData("CREATE UNLOGGED TABLE t (a int)")]
    [InlineData("CREATE OR REPLACE VIEW v AS SELECT 1")]
    [InlineData("ALTER TABLE t ADD COLUMN b int")]
    [InlineData("DROP TABLE t")]
    [InlineData("GRANT SELECT ON t TO someone")]
    [InlineData("REVOKE ALL ON t FROM someone")]
    [InlineData("COMMENT ON TABLE t IS 'x'")]
    [InlineData("SECURITY LABEL ON TABLE t IS 'x'")]
    [InlineData("IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO public")]
    [InlineData("REASSIGN OWNED BY a TO b")]
    public void Statements_that_change_the_database_are_writes(string sql)
    {
        Assert.Equal(StatementKind.Write, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("SET search_path = public")]
    [InlineData("SET SESSION statement_timeout TO 0")]
    [InlineData("SET ROLE someone")]
    [InlineData("SET SESSION AUTHORIZATION someone")]
    [InlineData("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")]
    [InlineData("RESET search_path")]
    [InlineData("RESET ALL")]
    [InlineData("DISCARD ALL")]
    [InlineData("LISTEN channel")]
    [InlineData("UNLISTEN *")]
    [InlineData("LOAD 'auto_explain'")]
    [InlineData("DEALLOCATE ALL")]
    [InlineData("CREATE TEMP TABLE t (a int)")]
    [InlineData("CREATE TEMPORARY TABLE t AS SELECT 1")]
    [InlineData("CREATE LOCAL TEMP TABLE t (a int)")]
    [InlineData("CREATE GLOBAL TEMPORARY TABLE t (a int)")]
    [InlineData("CREATE OR REPLACE TEMP VIEW v AS SELECT 1")]
    [InlineData("CREATE TEMP SEQUENCE s")]
    [InlineData("CREATE TABLE pg_temp.t (a int)")]
    [InlineData("CREATE VIEW pg_temp.v AS SELECT 1")]
    public void Statements_that_create_session_state_pin_the_session(string sql)
    {
        Assert.Equal(StatementKind.SessionState, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("SET LOCAL search_path = public")]
    [InlineData("SET CONSTRAINTS ALL DEFERRED")]
    public void Transaction_scoped_settings_do_not_pin_the_session(string sql)
    {
        Assert.Equal(StatementKind.Read, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("FOOBAR baz")]
    [InlineData("123")]
    [InlineData(":query_variable")]
    [InlineData("'just a string'")]
    [InlineData("START")]
    [InlineData("EXPLAIN")]
    [InlineData("COPY t")]
    [InlineData("PREPARE")]
    public void Anything_not_understood_is_a_write(string sql)
    {
        Assert.Equal(StatementKind.Write, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\t ")]
    [InlineData("-- nothing but a comment")]
    [InlineData("/* nothing */ ;; ;")]
    public void Empty_text_is_a_read_of_no_statement(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Equal(0, c.StatementCount);
    }

    [Fact]
    public void Unquoted_column_named_like_a_keyword_after_a_dot_is_a_column()
    {
        Assert.Equal(StatementKind.Read, Classify("SELECT t.update, t.delete, t.insert FROM t").Kind);
    }
}
