using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

/// <summary>Which names are calls, how they are spelled, and what built-ins do to the kind.</summary>
public sealed class FunctionTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Fact]
    public void Function_names_are_lower_cased_and_distinct_in_order_of_appearance()
    {
        Assert.Equal(["upper", "lower"], Classify("SELECT Upper(a), LOWER(b), upper(c) FROM t").Functions);
    }

    [Fact]
    public void Schema_is_kept_when_written()
    {
        Assert.Equal(["public.f", "pg_catalog.now", "app.\"Calc\""], Classify("SELECT Public.F(1), pg_catalog.now(), app.\"Calc\"(2)").Functions);
    }

    [Fact]
    public void Quoted_names_keep_their_case_and_quotes_unless_plain()
    {
        Assert.Equal(["\"MyFunc\"", "lower", "\"a\"\"b\""], Classify("SELECT \"MyFunc\"(1), \"lower\"(x), \"a\"\"b\"()").Functions);
    }

    [Fact]
    public void No_functions_gives_an_empty_list()
    {
        var c = Classify("SELECT 1");
        Assert.Empty(c.Functions);
        Assert.Same(Array.Empty<string>(), c.Functions);
    }

    [Theory]
    [InlineData("SELECT COALESCE(a, 1), NULLIF(b, 2), GREATEST(1, 2), LEAST(3, 4) FROM t", "")]
    [InlineData("SELECT CAST(a AS numeric(10, 2)), EXTRACT(year FROM d), POSITION('a' IN b), SUBSTRING(c FROM 1 FOR 2), TRIM(BOTH ' ' FROM e) FROM t", "")]
    [InlineData("SELECT ARRAY(SELECT 1), ROW(1, 2), EXISTS (SELECT 1), a IN (1, 2), b = ANY (ARRAY[1]) FROM t", "")]
    [InlineData("SELECT * FROM t AS x(a, b)", "")]
    [InlineData("SELECT * FROM t x(a, b)", "")]
    [InlineData("SELECT * FROM \"T\" x(a)", "")]
    [InlineData("SELECT * FROM unnest(ARRAY[1]) u(a)", "unnest")]
    [InlineData("WITH c(a) AS (SELECT 1), d (b) AS (SELECT 2) SELECT * FROM c, d", "")]
    [InlineData("INSERT INTO t(a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET (a, b) = (1, 2)", "")]
    [InlineData("SELECT a FROM t GROUP BY ROLLUP (a), CUBE (b), GROUPING SETS ((a), (b))", "")]
    [InlineData("SELECT count(*) FILTER (WHERE a > 1) OVER (PARTITION BY b ORDER BY c ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t", "count")]
    [InlineData("SELECT * FROM t TABLESAMPLE bernoulli (10) REPEATABLE (1)", "")]
    [InlineData("SELECT tsquery('a & b'), a::regtype, regtype('int4')", "")]
    [InlineData("SELECT x::timestamp(3) with time zone, INTERVAL '1' SECOND (2) FROM t", "")]
    [InlineData("SELECT a FROM t JOIN (SELECT 1) s ON true LEFT JOIN (SELECT 2) u ON true", "")]
    [InlineData("SELECT xmlelement(NAME foo, xmlattributes(1 AS bar)), xmlforest(1 AS a)", "")]
    [InlineData("SELECT CURRENT_TIMESTAMP(2), LOCALTIME(1), CURRENT_DATE", "")]
    public void Syntax_that_looks_like_a_call_is_not_a_function(string sql, string expected)
    {
        Assert.Equal(expected.Split(',', StringSplitOptions.RemoveEmptyEntries), Classify(sql).Functions);
    }

    [Theory]
    [InlineData("SELECT left('abc', 2), right('abc', 1)", "left")]
    [InlineData("SELECT * FROM generate_series(1, 3) AS g(i)", "generate_series")]
    [InlineData("SELECT DISTINCT ON (a) nextval('s') FROM t", "nextval")]
    [InlineData("SELECT 1 OPERATOR(pg_catalog.+) abs(-1)", "abs")]
    [InlineData("SELECT * FROM t JOIN LATERAL unnest(t.a) u ON true", "unnest")]
    [InlineData("SELECT * FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1])) AS r(a, b)", "generate_series")]
    [InlineData("CALL do_things(1)", "do_things")]
    [InlineData("SELECT f (1)", "f")]
    [InlineData("SELECT count(*) FROM t", "count")]
    [InlineData("SELECT mode() WITHIN GROUP (ORDER BY a) FROM t", "mode")]
    [InlineData("UPDATE t SET a = upper(b)", "upper")]
    [InlineData("SELECT * FROM t WHERE a = ANY (SELECT my_fn(b) FROM u)", "my_fn")]
    [InlineData("SELECT a::text || concat('x', 'y')", "concat")]
    public void Calls_are_found_wherever_an_expression_stands(string sql, string function)
    {
        Assert.Contains(function, Classify(sql).Functions);
    }

    [Theory]
    [InlineData("SELECT nextval('s')")]
    [InlineData("SELECT setval('s', 10)")]
    [InlineData("SELECT pg_catalog.nextval('s')")]
    [InlineData("SELECT \"nextval\"('s')")]
    [InlineData("SELECT txid_current()")]
    [InlineData("SELECT pg_current_xact_id()")]
    [InlineData("SELECT pg_notify('c', 'p')")]
    [InlineData("SELECT lo_create(0)")]
    [InlineData("SELECT lowrite(lo_open(1, 131072), 'x')")]
    [InlineData("SELECT lo_unlink(42)")]
    [InlineData("SELECT pg_advisory_xact_lock(1)")]
    [InlineData("SELECT pg_try_advisory_xact_lock_shared(1)")]
    [InlineData("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")]
    [InlineData("SELECT pg_drop_replication_slot('s')")]
    [InlineData("SELECT pg_terminate_backend(123)")]
    [InlineData("SELECT pg_cancel_backend(123)")]
    [InlineData("SELECT pg_reload_conf()")]
    [InlineData("SELECT pg_current_wal_lsn()")]
    [InlineData("SELECT pg_switch_wal()")]
    [InlineData("SELECT binary_upgrade_set_next_pg_type_oid(1)")]
    [InlineData("SELECT * FROM t WHERE a = (SELECT nextval('s'))")]
    public void Built_ins_that_write_make_the_statement_a_write(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.StartsWith("calls ", c.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT pg_advisory_lock(1)")]
    [InlineData("SELECT pg_advisory_lock_shared(1, 2)")]
    [InlineData("SELECT pg_try_advisory_lock(1)")]
    [InlineData("SELECT pg_advisory_unlock(1)")]
    [InlineData("SELECT pg_advisory_unlock_all()")]
    [InlineData("SELECT currval('s')")]
    [InlineData("SELECT lastval()")]
    [InlineData("SELECT setseed(0.5)")]
    [InlineData("SELECT set_config('search_path', 'x', false)")]
    [InlineData("SELECT set_config('search_path', 'x', $1)")]
    [InlineData("SELECT pg_catalog.set_config('a.b', 'x', 'false')")]
    [InlineData("INSERT INTO t VALUES (nextval('s')), (currval('s'))")]
    public void Built_ins_with_session_effects_make_the_statement_session_state(string sql)
    {
        Assert.Equal(StatementKind.SessionState, Classify(sql).Kind);
    }

    [Theory]
    [InlineData("SELECT set_config('search_path', 'x', true)")]
    [InlineData("SELECT set_config('a.b', f(1), 't')")]
    [InlineData("SELECT set_config('a.b', ARRAY[1, 2]::text, TRUE)")]
    public void Set_config_local_to_the_transaction_is_a_read(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.Contains("set_config", c.Functions);
    }

    [Theory]
    [InlineData("SELECT random(), clock_timestamp(), pg_sleep(0)")]
    [InlineData("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()")]
    [InlineData("SELECT loread(lo_open(1, 262144), 10)")]
    [InlineData("SELECT my_function(1)")]
    public void Other_functions_leave_a_read_for_the_router_to_resolve(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Read, c.Kind);
        Assert.NotEmpty(c.Functions);
    }

    [Theory]
    [InlineData("nextval", "Write")]
    [InlineData("pg_catalog.txid_current", "Write")]
    [InlineData("pg_advisory_xact_lock", "Write")]
    [InlineData("pg_advisory_lock", "SessionState")]
    [InlineData("currval", "SessionState")]
    [InlineData("random", "ReadSafe")]
    [InlineData("pg_catalog.pg_sleep", "ReadSafe")]
    [InlineData("set_config", "DependsOnArguments")]
    [InlineData("upper", "None")]
    [InlineData("public.nextval", "None")]
    [InlineData("\"NEXTVAL\"", "None")]
    public void Builtin_function_effects_are_looked_up_by_canonical_name(string name, string expected)
    {
        // The effect is internal, so the theory names it.
        Assert.Equal(Enum.Parse<BuiltinFunctionEffect>(expected), BuiltinFunctions.GetEffect(name));
    }

    [Fact]
    public void Read_safe_built_ins_are_the_volatile_readers_and_the_argument_checked_ones()
    {
        Assert.True(BuiltinFunctions.IsReadSafe("random"));
        Assert.True(BuiltinFunctions.IsReadSafe("pg_catalog.gen_random_uuid"));
        Assert.True(BuiltinFunctions.IsReadSafe("set_config"));
        Assert.False(BuiltinFunctions.IsReadSafe("nextval"));
        Assert.False(BuiltinFunctions.IsReadSafe("upper"));
        Assert.False(BuiltinFunctions.IsReadSafe("public.random"));
    }
}
