using RoutingDataSource.Classification;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// What a session remembers of its state and what it replays on a physical connection that lacks it: the effective
/// state, compacted, on one that holds nothing; the changes as they ran on one that holds an earlier position.
/// </summary>
public sealed class SessionMemoryTests
{
    private static SessionMemory? Play(params string[] script)
    {
        SessionMemory? memory = null;
        var inTransaction = false;
        foreach (var sql in script)
        {
            var c = SqlClassifier.Default.Classify(sql);
            if (c.TransactionControl == TransactionControlKind.Begin)
            {
                inTransaction = true;
                continue;
            }
            SessionRouter.Remember(c, inTransaction, preparedReadRunsOnStandby: true, ref memory);
            if (c.TransactionControl is TransactionControlKind.Commit or TransactionControlKind.Rollback)
                inTransaction = false;
        }
        return memory;
    }

    [Fact]
    public void A_fresh_connection_gets_the_effective_state_with_each_parameter_once()
    {
        var memory = Play("SET search_path TO a", "SET app.tenant_id = '1'", "SET search_path TO b", "SET ROLE reader")!;
        Assert.Equal("SET app.tenant_id = '1'\n;\nSET search_path TO b\n;\nSET ROLE reader", memory.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void A_connection_behind_gets_the_changes_as_they_ran()
    {
        var memory = Play("SET search_path TO a", "SET work_mem = '8MB'")!;
        var held = memory.Version;
        SessionRouter.Remember(SqlClassifier.Default.Classify("RESET work_mem"), false, true, ref memory);
        SessionRouter.Remember(SqlClassifier.Default.Classify("SET search_path TO b"), false, true, ref memory);
        Assert.Equal("RESET work_mem\n;\nSET search_path TO b", memory!.ReplaySql(held, standby: true));
        Assert.Null(memory.ReplaySql(memory.Version, standby: true));
        Assert.Equal("SET search_path TO b", memory.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void RESET_ALL_keeps_the_role_and_the_session_authorization()
    {
        var memory = Play("SET SESSION AUTHORIZATION u", "SET ROLE r", "SET work_mem = '8MB'", "RESET ALL")!;
        Assert.Equal("SET SESSION AUTHORIZATION u\n;\nSET ROLE r", memory.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void Set_config_with_literals_replays_as_set_config()
    {
        var memory = Play("SELECT set_config('App.Tenant', '7', false)", "SET app.tenant = '8'")!;
        Assert.Equal("SET app.tenant = '8'", memory.ReplaySql(SessionMemory.Nothing, standby: true));
        var only = Play("SELECT set_config('app.tenant', '7', false)")!;
        Assert.Equal("SELECT pg_catalog.set_config('app.tenant', '7', false)", only.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void Only_state_without_rows_that_a_failed_transaction_undoes_can_ride_in_front_of_a_read()
    {
        Assert.Equal(["SET app.tenant_id = '1'", "SET SESSION AUTHORIZATION u", "SET ROLE reader"],
            Play("SET app.tenant_id = '1'", "SET SESSION AUTHORIZATION u", "SET work_mem = '8MB'", "RESET work_mem", "SET ROLE reader")!.CarriableStatements(SessionMemory.Nothing, standby: true));
        Assert.Null(Play("SET app.tenant_id = '1'", "SELECT set_config('app.other', '2', false)")!.CarriableStatements(SessionMemory.Nothing, standby: true)); // returns a row
        Assert.Null(Play("SET app.tenant_id = '1'", "PREPARE q AS SELECT 1")!.CarriableStatements(SessionMemory.Nothing, standby: true)); // stays after a failed transaction
    }

    [Fact]
    public void Parameter_changes_in_a_transaction_count_at_COMMIT_and_not_after_ROLLBACK()
    {
        Assert.Null(Play("BEGIN", "SET work_mem = '8MB'", "ROLLBACK")?.ReplaySql(SessionMemory.Nothing, standby: true));
        Assert.Equal("SET work_mem = '8MB'", Play("BEGIN", "SET work_mem = '8MB'", "COMMIT")!.ReplaySql(SessionMemory.Nothing, standby: true));
        // PREPARE is not transactional: it stays after a rollback.
        Assert.Equal("PREPARE q AS SELECT 1", Play("BEGIN", "PREPARE q AS SELECT 1", "ROLLBACK")!.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void A_prepared_statement_a_standby_cannot_run_is_replayed_on_the_primary_only()
    {
        SessionMemory? memory = null;
        SessionRouter.Remember(SqlClassifier.Default.Classify("PREPARE w AS INSERT INTO t VALUES (1)"), false, true, ref memory);
        SessionRouter.Remember(SqlClassifier.Default.Classify("PREPARE r AS SELECT 1"), false, true, ref memory);
        Assert.Equal("PREPARE r AS SELECT 1", memory!.ReplaySql(SessionMemory.Nothing, standby: true));
        Assert.Equal("PREPARE w AS INSERT INTO t VALUES (1)\n;\nPREPARE r AS SELECT 1", memory.ReplaySql(SessionMemory.Nothing, standby: false));
        var held = memory.Version;
        SessionRouter.Remember(SqlClassifier.Default.Classify("DEALLOCATE ALL"), false, true, ref memory);
        Assert.Equal("DEALLOCATE r", memory!.ReplaySql(held, standby: true));
        Assert.Null(memory.ReplaySql(SessionMemory.Nothing, standby: false));
    }

    [Fact]
    public void DISCARD_ALL_forgets_everything_and_resets_a_connection_behind()
    {
        var memory = Play("SET work_mem = '8MB'", "CREATE TEMP TABLE tt (id int)")!;
        var held = memory.Version;
        SessionRouter.Remember(SqlClassifier.Default.Classify("DISCARD ALL"), false, true, ref memory);
        Assert.False(memory!.HasState);
        Assert.False(memory.HasTemporary);
        Assert.Equal("SET SESSION AUTHORIZATION DEFAULT; RESET ALL", memory.ReplaySql(held, standby: true));
    }

    [Fact]
    public void A_statement_ending_in_a_comment_or_a_semicolon_replays_as_one_text()
    {
        var memory = Play("SET a.b = '1' -- the tenant", "SET a.c = '2';")!;
        Assert.Equal("SET a.b = '1' -- the tenant\n;\nSET a.c = '2'", memory.ReplaySql(SessionMemory.Nothing, standby: true));
    }

    [Fact]
    public void Only_the_latest_role_is_replayed_and_none_after_RESET_ROLE()
    {
        // The corpus's foreign_key file: SET ROLE r, RESET ROLE, later DROP ROLE r. Replaying "SET ROLE r" would fail.
        Assert.Null(Play("SET ROLE r", "RESET ROLE")!.ReplaySql(SessionMemory.Nothing, standby: true));
        Assert.Null(Play("SET ROLE r", "SET ROLE NONE")!.ReplaySql(SessionMemory.Nothing, standby: true));
        Assert.Equal("SET SESSION AUTHORIZATION u\n;\nSET ROLE s", Play("SET ROLE r", "SET SESSION AUTHORIZATION u", "SET ROLE s")!.ReplaySql(SessionMemory.Nothing, standby: true));
        var memory = Play("SET ROLE r")!;
        var held = memory.Version;
        SessionRouter.Remember(SqlClassifier.Default.Classify("RESET ROLE"), false, true, ref memory);
        Assert.Equal("RESET ROLE", memory!.ReplaySql(held, standby: true));
    }

    [Fact]
    public void Trimmed_changes_are_not_replayed_again()
    {
        var memory = Play("SET a.b = '1'", "SET a.c = '2'")!;
        memory.Trim(1);
        Assert.Equal("SET a.c = '2'", memory.ReplaySql(1, standby: true));
    }

    [Theory]
    [InlineData("SET search_path = a", "Set", "search_path")]
    [InlineData("SET SESSION search_path = a", "Set", "search_path")]
    [InlineData("SET SCHEMA 'a'", "Set", "search_path")]
    [InlineData("SET TIME ZONE 'UTC'", "Set", "timezone")]
    [InlineData("SET App.Tenant_Id TO 3", "Set", "app.tenant_id")]
    [InlineData("RESET app.tenant_id", "Reset", "app.tenant_id")]
    [InlineData("RESET ALL", "ResetAll", null)]
    [InlineData("SET ROLE reader", "Identity", "role")]
    [InlineData("RESET ROLE", "Identity", "role")]
    [InlineData("SET SESSION AUTHORIZATION DEFAULT", "Identity", "session_authorization")]
    [InlineData("PREPARE q(int) AS SELECT $1", "Prepare", "q")]
    [InlineData("DEALLOCATE PREPARE q", "Deallocate", "q")]
    [InlineData("DEALLOCATE ALL", "DeallocateAll", null)]
    [InlineData("DISCARD ALL", "DiscardAll", null)]
    [InlineData("DISCARD TEMP", "DiscardTemp", null)]
    [InlineData("CREATE TEMP TABLE IF NOT EXISTS Tt (id int)", "CreateTemp", "tt")]
    [InlineData("CREATE TEMPORARY VIEW \"V\" AS SELECT 1", "CreateTemp", "V")]
    [InlineData("CREATE TABLE pg_temp.t2 (id int)", "CreateTemp", "t2")]
    [InlineData("SELECT * INTO TEMP TABLE t3 FROM items", "CreateTemp", "t3")]
    [InlineData("LISTEN events", "Listen", null)]
    [InlineData("SELECT pg_advisory_lock(1)", "AdvisoryLock", null)]
    [InlineData("SELECT pg_advisory_unlock(1)", "PrimarySessionRead", null)]
    [InlineData("SELECT currval('s')", "PrimarySessionRead", null)]
    [InlineData("FETCH 10 FROM c", "PrimarySessionRead", null)]
    [InlineData("DECLARE c CURSOR WITH HOLD FOR SELECT 1", "HeldCursor", null)]
    [InlineData("SELECT set_config('a.b', 'c', false)", "SetConfig", "a.b")]
    [InlineData("SELECT set_config('a.b', $1, false)", "Pins", null)]
    [InlineData("SET a.b = 1; SET a.c = 2", "Pins", null)]
    [InlineData("LOAD 'x'", "Pins", null)]
    [InlineData("SELECT setseed(0.1)", "Pins", null)]
    [InlineData("SELECT 1", "None", null)]
    public void The_classifier_says_what_a_statement_leaves_in_the_session(string sql, string effect, string? key)
    {
        var c = new SqlClassifier(0).Classify(sql);
        Assert.Equal(Enum.Parse<SessionEffect>(effect), c.Session.Effect);
        Assert.Equal(key, c.Session.Key);
    }

    [Fact]
    public void The_names_a_text_mentions_are_its_possible_relations()
    {
        var c = new SqlClassifier(0).Classify("SELECT a.x, count(*) FROM public.\"Items\" a JOIN pg_temp.tt USING (id) WHERE f(a.y) > 1");
        Assert.Contains("Items", c.Relations);
        Assert.Contains("tt", c.Relations);
        Assert.DoesNotContain("f", c.Relations);
        Assert.DoesNotContain("select", c.Relations);
        Assert.Equal("u", new SqlClassifier(0).Classify("CREATE UNLOGGED TABLE U (id int)").Session.CreatedName);
        Assert.True(new SqlClassifier(0).Classify("CREATE UNLOGGED TABLE U (id int)").Session.CreatedUnlogged);
    }
}
