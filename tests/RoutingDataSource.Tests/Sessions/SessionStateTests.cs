using System.Data.Common;
using RoutingDataSource.Tests.Infrastructure;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Sessions;

/// <summary>
/// README "Session state": the state a session sets travels to the standby that serves its reads, what lives in one
/// server session keeps only the statements that need it on the primary, and nothing reaches the next user of a
/// physical connection. On the shared cluster, reads only on standbys (primary weight 0).
/// </summary>
[Collection("cluster")]
public sealed class SessionStateTests(ClusterFixture fx)
{
    [Fact]
    public async Task SET_search_path_then_a_read_on_a_standby_sees_it()
    {
        await fx.Cluster.Primary.ExecuteAsync("""
            CREATE SCHEMA IF NOT EXISTS state_app;
            CREATE TABLE IF NOT EXISTS state_app.only_here (id int);
            TRUNCATE state_app.only_here;
            INSERT INTO state_app.only_here VALUES (1), (2);
            """);
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET search_path TO state_app, public");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('search_path'), (SELECT count(*) FROM only_here)");
        Assert.Equal(true, row[0]);
        Assert.Equal("state_app, public", row[1]);
        Assert.Equal(2L, row[2]);
        Assert.Null(conn.PinnedConnection);
    }

    [Fact]
    public async Task SET_ROLE_then_a_read_runs_as_that_role_on_the_standby()
    {
        await fx.Cluster.Primary.ExecuteAsync("""
            DO $$ BEGIN CREATE ROLE state_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            GRANT SELECT ON items TO state_reader;
            """);
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET ROLE state_reader");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_user, (SELECT count(*) >= 0 FROM items)");
        Assert.Equal(true, row[0]);
        Assert.Equal("state_reader", row[1]);
        await NonQueryAsync(conn, "RESET ROLE");
        row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_user = session_user");
        Assert.Equal(true, row[0]);
        Assert.Equal(true, row[1]);
    }

    [Fact]
    public async Task A_custom_parameter_set_before_any_write_is_set_on_the_standby_session_its_reads_keep()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET app.tenant_id = '42'");
        var pids = new HashSet<int>();
        for (var i = 0; i < 6; i++)
        {
            var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.tenant_id'), pg_backend_pid()");
            Assert.Equal(true, row[0]);
            Assert.Equal("42", row[1]);
            pids.Add((int)row[2]!);
        }
        Assert.Single(pids);
        Assert.Equal(0, conn.StateReplays); // the SET itself ran on that standby session: nothing to replay
        Assert.Equal(6, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
        Assert.Equal(0, ds.Backend("n0").ReadCount + ds.Backend("n0").WriteCount); // the primary saw nothing
    }

    [Fact]
    public async Task A_write_after_a_SET_on_the_standby_session_runs_with_that_state_on_the_primary()
    {
        await using var ds = await WithTableAsync("CREATE TABLE IF NOT EXISTS state_set_then_write (tenant text)");
        await using var conn = await ds.OpenConnectionAsync();
        var tenant = Guid.NewGuid().ToString("N");
        await NonQueryAsync(conn, $"SET app.tenant_id = '{tenant}'");
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_set_then_write VALUES (current_setting('app.tenant_id'))"));
        Assert.Equal(1, conn.StateReplays); // carried to the primary session in front of the write
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM state_set_then_write WHERE tenant = '{tenant}'"));
        // Set again now that the connection holds a primary session: there, and it travels to the standby session.
        await NonQueryAsync(conn, "SET app.tenant_id = 'second'");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.tenant_id')");
        Assert.Equal(true, row[0]);
        Assert.Equal("second", row[1]);
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_set_then_write VALUES (current_setting('app.tenant_id'))"));
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM state_set_then_write WHERE tenant = 'second'"));
    }

    [Fact]
    public async Task The_first_write_after_a_SET_on_the_standby_session_carries_that_state_to_the_primary_in_its_own_round_trip()
    {
        await using var ds = await WithTableAsync("CREATE TABLE IF NOT EXISTS state_carried_write (tenant text, who text)");
        await using var conn = await ds.OpenConnectionAsync();
        var tenant = Guid.NewGuid().ToString("N");
        await NonQueryAsync(conn, $"SET app.tenant_id = '{tenant}'");
        await NonQueryAsync(conn, "SET search_path TO public");
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_carried_write VALUES (current_setting('app.tenant_id'), current_setting('search_path'))"));
        Assert.Equal(1, conn.StateReplays);
        Assert.Equal(0, conn.StateRoundTrips); // in the write's batch, not before it
        // The primary session holds the state now: the next write needs nothing more.
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_carried_write VALUES (current_setting('app.tenant_id'), current_setting('search_path'))"));
        Assert.Equal(1, conn.StateReplays);
        Assert.Equal(2L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM state_carried_write WHERE tenant = '{tenant}' AND who = 'public'"));
    }

    [Fact]
    public async Task A_write_with_positional_parameters_or_in_a_batch_carries_the_state_in_front_of_it_too()
    {
        await using var ds = await WithTableAsync("CREATE TABLE IF NOT EXISTS state_carried_forms (tenant text, n int)");
        var tenant = Guid.NewGuid().ToString("N");
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await NonQueryAsync(conn, $"SET app.tenant_id = '{tenant}'");
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "INSERT INTO state_carried_forms VALUES (current_setting('app.tenant_id'), $1)";
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter<int> { TypedValue = 1 });
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
            Assert.Equal(0, conn.StateRoundTrips);
        }
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await NonQueryAsync(conn, $"SET app.tenant_id = '{tenant}'");
            await using var batch = conn.CreateBatch();
            batch.BatchCommands.Add(new Npgsql.NpgsqlBatchCommand("INSERT INTO state_carried_forms VALUES (current_setting('app.tenant_id'), 2)"));
            batch.BatchCommands.Add(new Npgsql.NpgsqlBatchCommand("INSERT INTO state_carried_forms VALUES (current_setting('app.tenant_id'), 3)"));
            Assert.Equal(2, await batch.ExecuteNonQueryAsync());
            Assert.Equal(0, conn.StateRoundTrips);
            Assert.Equal(1, conn.StateReplays);
        }
        Assert.Equal(6L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT sum(n) FROM state_carried_forms WHERE tenant = '{tenant}'"));
    }

    [Fact]
    public async Task A_write_that_fails_with_the_state_carried_in_front_fails_with_its_own_error_and_the_state_rides_again()
    {
        await using var ds = await WithTableAsync("CREATE TABLE IF NOT EXISTS state_carried_failing (tenant text CHECK (tenant <> 'refused'))");
        await using var conn = await ds.OpenConnectionAsync();
        var tenant = Guid.NewGuid().ToString("N");
        await NonQueryAsync(conn, $"SET app.tenant_id = '{tenant}'");
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "INSERT INTO state_carried_failing VALUES ('refused')"));
        Assert.Equal(Npgsql.PostgresErrorCodes.CheckViolation, e.SqlState);
        // The failed write took the carried state with it; the next write carries it again, in its own round trip still.
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_carried_failing VALUES (current_setting('app.tenant_id'))"));
        Assert.Equal(2, conn.StateReplays);
        Assert.Equal(0, conn.StateRoundTrips);
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM state_carried_failing WHERE tenant = '{tenant}'"));
    }

    [Fact]
    public async Task A_state_the_primary_refuses_in_front_of_a_write_is_told_as_the_session_lost_and_the_write_does_not_run()
    {
        var role = "state_gone_" + Guid.NewGuid().ToString("N")[..8];
        await fx.Cluster.Primary.ExecuteAsync($"CREATE ROLE {role} NOLOGIN");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, $"SET ROLE {role}");
        Assert.Equal(role, (await RowAsync(conn, "SELECT current_user"))[0]);
        await fx.Cluster.Primary.ExecuteAsync($"DROP ROLE {role}");
        var before = await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items");
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, "INSERT INTO items (v) VALUES ('never written')"));
        Assert.Equal(RoutingFailure.SessionLost, e.Failure);
        Assert.Equal(before, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items"));
        // Started clean: the next write runs as the login role.
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO items (v) VALUES ('after the lost state')"));
    }

    [Fact]
    public async Task A_write_that_refuses_a_pipeline_after_a_SET_gets_the_state_in_a_round_trip_of_its_own()
    {
        // CREATE INDEX CONCURRENTLY, VACUUM and the like refuse to run after another statement of their implicit
        // transaction (25001 "cannot be executed within a pipeline"): the state goes first, alone.
        var table = "state_no_pipeline_" + Guid.NewGuid().ToString("N")[..8];
        await fx.Cluster.Primary.ExecuteAsync($"CREATE TABLE {table} (c int)");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET app.tenant_id = 'concurrently'");
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
        await NonQueryAsync(conn, $"CREATE INDEX CONCURRENTLY {table}_c ON {table} (c)");
        Assert.Equal(1, conn.StateRoundTrips);
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_indexes WHERE indexname = '{table}_c'"));
        // A batch that starts with one, on a connection whose state lives on its standby session only.
        await using var other = await ds.OpenConnectionAsync();
        await NonQueryAsync(other, "SET app.tenant_id = 'vacuum'");
        Assert.Equal(true, (await RowAsync(other, "SELECT pg_is_in_recovery()"))[0]);
        await using var batch = other.CreateBatch();
        batch.BatchCommands.Add(new Npgsql.NpgsqlBatchCommand($"VACUUM {table}"));
        await batch.ExecuteNonQueryAsync();
        Assert.Equal(1, other.StateRoundTrips);
        Assert.Equal(1, await NonQueryAsync(other, $"INSERT INTO {table} VALUES (length(current_setting('app.tenant_id')))"));
        Assert.Equal(6L, await fx.Cluster.Primary.ScalarAsync<long>($"SELECT sum(c) FROM {table}"));
    }

    [Fact]
    public async Task SET_default_transaction_read_only_then_a_write_fails_as_on_a_read_only_primary_session()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET default_transaction_read_only = on");
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "INSERT INTO items (v) VALUES ('read-only session')"));
        Assert.Equal(Npgsql.PostgresErrorCodes.ReadOnlySqlTransaction, e.SqlState);
    }

    [Fact]
    public async Task With_PrimaryServesReads_Never_a_SET_runs_on_the_primary_and_its_reads_on_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.PrimaryServesReads = PrimaryReadMode.Never);
        await using var conn = await ds.OpenConnectionAsync();
        var writes = ds.Backend("n0").WriteCount;
        await NonQueryAsync(conn, "SET app.never = 'primary'");
        Assert.Equal(writes + 1, ds.Backend("n0").WriteCount); // a SET never waits for a standby there
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.never')");
        Assert.Equal(true, row[0]);
        Assert.Equal("primary", row[1]);
    }

    [Fact]
    public async Task A_SET_that_fails_on_the_standby_fails_with_the_primarys_error_and_is_not_remembered()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var writes = ds.Backend("n0").WriteCount;
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "SET statement_timeout = 'soon'"));
        Assert.Equal("22023", e.SqlState);
        Assert.Equal(writes + 1, ds.Backend("n0").WriteCount); // re-run on the primary, whose answer stands
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('statement_timeout')");
        Assert.Equal(true, row[0]);
        Assert.Equal("0", row[1]);
        Assert.Equal(0, conn.StateReplays);
    }

    [Fact]
    public async Task A_read_right_after_the_sessions_write_runs_behind_the_guard_on_the_standby_that_holds_its_state()
    {
        await fx.Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS state_after_write (id int PRIMARY KEY)");
        await fx.Cluster.WaitForReplicationAsync();
        // No probe between a write and the read after it; a guard that waits long enough for a loaded machine.
        await using var ds = await fx.CreateDataSourceAsync(b =>
        {
            b.Options.HealthCheckInterval = TimeSpan.FromSeconds(60);
            b.Options.ReadYourWritesWait = TimeSpan.FromSeconds(2);
        });
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET app.tenant_id = '7'");
        var held = (int)(await RowAsync(conn, "SELECT pg_backend_pid()"))[0]!;
        var id = Random.Shared.Next(1, 1 << 30);
        for (var i = 0; i < 6; i++, id++)
        {
            await NonQueryAsync(conn, $"INSERT INTO state_after_write VALUES ({id})");
            var row = await RowAsync(conn,
                $"SELECT pg_is_in_recovery(), current_setting('app.tenant_id'), pg_backend_pid(), (SELECT count(*) FROM state_after_write WHERE id = {id})");
            Assert.Equal(true, row[0]);
            Assert.Equal("7", row[1]);
            Assert.Equal(held, row[2]); // the standby session that holds the state, not another standby's
            Assert.Equal(1L, row[3]);
        }
        Assert.Equal(1, conn.StateReplays);
        Assert.Equal(6, ds.Backend("n1").GuardHits + ds.Backend("n2").GuardHits);
    }

    [Fact]
    public async Task State_never_leaks_to_the_next_user_of_a_physical_connection()
    {
        await fx.Cluster.Primary.ExecuteAsync("DO $$ BEGIN CREATE ROLE state_leak_role NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        int standbyPid;
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await NonQueryAsync(conn, "SET app.leak = 'yes'");
            await NonQueryAsync(conn, "SET ROLE state_leak_role");
            await NonQueryAsync(conn, "PREPARE leak_q AS SELECT 1");
            // A prepared command on the same standby session: Npgsql then resets without DEALLOCATE ALL.
            await using var prepared = conn.CreateCommand();
            prepared.CommandText = "SELECT pg_backend_pid()";
            await prepared.PrepareAsync();
            standbyPid = Convert.ToInt32(await prepared.ExecuteScalarAsync());
            Assert.Equal(1L, await ScalarAsync(conn, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'leak_q'"));
        }

        // Bounded: the pool hands the idle connector out again; the next users of the standby must see none of it.
        var seen = false;
        for (var i = 0; i < 10 && !seen; i++)
        {
            await using var next = await ds.OpenConnectionAsync();
            var row = await RowAsync(next, "SELECT pg_backend_pid(), current_setting('app.leak', true), current_user = session_user, (SELECT count(*) FROM pg_prepared_statements WHERE name = 'leak_q')");
            if ((int)row[0]! != standbyPid)
                continue;
            seen = true;
            Assert.True(row[1] is null or "", $"app.leak leaked: {row[1]}");
            Assert.Equal(true, row[2]);
            Assert.Equal(0L, row[3]);
        }
        Assert.True(seen, "the standby connection that held the state was never handed out again");
    }

    [Fact]
    public async Task A_temp_table_read_stays_on_the_primary_while_a_permanent_table_read_moves()
    {
        // Without read-your-writes, so that the INSERT into the temporary table does not hold the next reads on the primary.
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_tt (id int)");
        await NonQueryAsync(conn, "INSERT INTO state_tt VALUES (1), (2), (3)");
        var temp = await RowAsync(conn, "SELECT pg_is_in_recovery(), count(*) FROM state_tt");
        Assert.Equal(false, temp[0]);
        Assert.Equal(3L, temp[1]);
        var permanent = await RowAsync(conn, "SELECT pg_is_in_recovery(), count(*) >= 0 FROM items");
        Assert.Equal(true, permanent[0]);
        Assert.Null(conn.PinnedConnection);
        // pg_temp shadows a permanent name: a read of "items" after a temporary "items" is the temporary one.
        await NonQueryAsync(conn, "CREATE TEMP TABLE items (id int)");
        var shadowed = await RowAsync(conn, "SELECT pg_is_in_recovery(), count(*) FROM items");
        Assert.Equal(false, shadowed[0]);
        Assert.Equal(0L, shadowed[1]);
    }

    [Fact]
    public async Task A_renamed_temp_table_stays_temporary_and_its_reads_stay_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_rn (id int)");
        await NonQueryAsync(conn, "INSERT INTO state_rn VALUES (1), (2)");
        await NonQueryAsync(conn, "ALTER TABLE state_rn RENAME TO state_rn_new");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), count(*) FROM state_rn_new");
        Assert.Equal(false, row[0]);
        Assert.Equal(2L, row[1]);
    }

    [Fact]
    public async Task An_index_of_a_temp_table_is_temporary_and_a_read_naming_it_stays_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_ix (f1 int)");
        await NonQueryAsync(conn, "CREATE INDEX state_ix_i ON state_ix (f1)");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), 'state_ix_i'::regclass::text");
        Assert.Equal(false, row[0]);
        Assert.Equal("state_ix_i", row[1]);
    }

    [Fact]
    public async Task A_read_only_transaction_of_a_session_holding_temp_objects_stays_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP SEQUENCE state_tseq");
        await NonQueryAsync(conn, "START TRANSACTION READ ONLY");
        // A temporary sequence may advance in a read-only transaction; a standby session does not have it (42P01).
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), nextval('state_tseq'), current_setting('transaction_read_only')");
        Assert.Equal(false, row[0]);
        Assert.Equal(1L, row[1]);
        Assert.Equal("on", row[2]);
        await NonQueryAsync(conn, "ROLLBACK");
        // The same through the API.
        await using (var tx = await conn.BeginReadOnlyTransactionAsync())
        {
            var api = await RowAsync(conn, "SELECT pg_is_in_recovery(), nextval('state_tseq')");
            Assert.Equal(false, api[0]);
            await tx.RollbackAsync();
        }
        // Another session's read-only transaction still goes to a standby.
        await using var other = await ds.OpenConnectionAsync();
        await NonQueryAsync(other, "BEGIN READ ONLY");
        Assert.Equal(true, (await RowAsync(other, "SELECT pg_is_in_recovery()"))[0]);
        await NonQueryAsync(other, "COMMIT");
    }

    [Fact]
    public async Task A_read_only_transaction_whose_first_statement_a_standby_cannot_run_is_bound_to_the_primary_read_only()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        // PostgreSQL 15 runs lo_creat in a read-only transaction on the primary; a standby refuses it (55000/XX000).
        await NonQueryAsync(conn, "START TRANSACTION READ ONLY");
        var row = await RowAsync(conn, "SELECT lo_creat(-1) > 0, pg_is_in_recovery(), current_setting('transaction_read_only')");
        Assert.Equal(true, row[0]);
        Assert.Equal(false, row[1]);
        Assert.Equal("on", row[2]);
        Assert.Equal(false, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
        await NonQueryAsync(conn, "ROLLBACK");
        // A read-only transaction beginning with a read still goes to a standby.
        await NonQueryAsync(conn, "START TRANSACTION READ ONLY");
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
        await NonQueryAsync(conn, "COMMIT");
    }

    [Fact]
    public async Task A_read_of_a_temp_table_through_a_permanent_function_is_re_run_on_the_primary_session()
    {
        // The function's body names a table that only this session's temporary one satisfies: the router sees the
        // call (a stable function, a read), not the body.
        await fx.Cluster.Primary.ExecuteAsync("""
            SET check_function_bodies = off;
            CREATE OR REPLACE FUNCTION state_count_temp() RETURNS bigint STABLE LANGUAGE sql AS 'SELECT count(*) FROM state_temp_rows';
            """);
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_temp_rows (v int)");
        await NonQueryAsync(conn, "INSERT INTO state_temp_rows VALUES (1), (2)");
        var rerouted = ds.GetStatus().Backends.Sum(b => b.RerouteCount);
        for (var i = 0; i < 3; i++)
            Assert.Equal(2L, (await RowAsync(conn, "SELECT state_count_temp()"))[0]);
        // Each call reached a standby first (42P01 there) and was re-run on the primary session, counted.
        Assert.Equal(rerouted + 3, ds.GetStatus().Backends.Sum(b => b.RerouteCount));
        // The session's other reads still move.
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
    }

    [Fact]
    public async Task A_function_created_in_pg_temp_is_planned_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE FUNCTION pg_temp.state_tf(i int) RETURNS SETOF int IMMUTABLE LANGUAGE sql AS 'SELECT i + 1'");
        // EXPLAIN without ANALYZE calls nothing, so no function decides its route; on a standby pg_temp is empty (3F000).
        var before = ds.GetStatus()["n0"]!.ReadCount;
        var plan = await RowAsync(conn, "EXPLAIN (COSTS OFF) SELECT * FROM pg_temp.state_tf(1)");
        Assert.False(string.IsNullOrEmpty((string?)plan[0]));
        Assert.Equal(before + 1, ds.GetStatus()["n0"]!.ReadCount);
        // The session's other reads still move.
        Assert.Equal(true, (await RowAsync(conn, "SELECT pg_is_in_recovery()"))[0]);
    }

    [Fact]
    public async Task EXPLAIN_EXECUTE_of_a_prepared_read_runs_on_a_standby_that_holds_the_prepared_statement()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "PREPARE state_ex(int) AS SELECT $1 + 1");
        var plan = await RowAsync(conn, "EXPLAIN (COSTS OFF) EXECUTE state_ex(1)");
        Assert.Contains("Result", (string)plan[0]!, StringComparison.Ordinal);
        Assert.True(ds.GetStatus()["n1"]!.ReadCount + ds.GetStatus()["n2"]!.ReadCount >= 1, "the EXPLAIN did not run on a standby");
        // A prepared write is planned on the primary, where it was prepared.
        await NonQueryAsync(conn, "PREPARE state_exw AS INSERT INTO items SELECT * FROM items WHERE false");
        var before = ds.GetStatus()["n0"]!.WriteCount;
        await RowAsync(conn, "EXPLAIN (COSTS OFF) EXECUTE state_exw");
        Assert.Equal(before + 1, ds.GetStatus()["n0"]!.WriteCount);
    }

    [Fact]
    public async Task A_prepared_read_is_EXECUTEd_on_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "PREPARE state_q(int) AS SELECT pg_is_in_recovery(), $1 + 1");
        var row = await RowAsync(conn, "EXECUTE state_q(41)");
        Assert.Equal(true, row[0]);
        Assert.Equal(42, row[1]);
        await NonQueryAsync(conn, "DEALLOCATE state_q");
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => RowAsync(conn, "EXECUTE state_q(1)"));
    }

    [Fact]
    public async Task Currval_an_advisory_unlock_and_a_held_cursor_run_in_the_primary_session_while_other_reads_move()
    {
        await fx.Cluster.Primary.ExecuteAsync("CREATE SEQUENCE IF NOT EXISTS state_seq");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        var next = await ScalarAsync(conn, "SELECT nextval('state_seq')");
        Assert.Equal(next, await ScalarAsync(conn, "SELECT currval('state_seq')"));
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_advisory_lock(4242) IS NOT NULL"));
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_is_in_recovery()"));
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_advisory_unlock(4242)"));
        await NonQueryAsync(conn, "DECLARE state_c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g");
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_is_in_recovery()"));
        Assert.Equal(1, await ScalarAsync(conn, "FETCH state_c"));
        await NonQueryAsync(conn, "CLOSE state_c");
        Assert.Null(conn.PinnedConnection);
    }

    [Fact]
    public async Task A_cursor_WITH_HOLD_declared_in_a_transaction_is_fetched_after_its_COMMIT()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "DECLARE state_held CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g");
        await NonQueryAsync(conn, "COMMIT");
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_is_in_recovery()"));
        Assert.Equal(1, await ScalarAsync(conn, "FETCH state_held"));
        Assert.Equal(2, await ScalarAsync(conn, "FETCH state_held"));
        await NonQueryAsync(conn, "CLOSE state_held");
    }

    [Fact]
    public async Task A_standby_that_cannot_take_the_state_leaves_the_read_to_the_primary_session()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        foreach (var standby in fx.Cluster.Standbys)
            await standby.PauseReplayAsync();
        try
        {
            // Made while the standbys replay nothing: SET ROLE works on the primary, not (yet) on a standby.
            var role = "state_late_" + Guid.NewGuid().ToString("N")[..8];
            await fx.Cluster.Primary.ExecuteAsync($"CREATE ROLE {role} NOLOGIN");
            await using var conn = await ds.OpenConnectionAsync();
            await NonQueryAsync(conn, $"SET ROLE {role}");
            var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_user");
            Assert.Equal(false, row[0]);
            Assert.Equal(role, row[1]);
            // Once the standbys have the role, the session's reads move there, as that role.
            foreach (var standby in fx.Cluster.Standbys)
                await standby.ResumeReplayAsync();
            await fx.Cluster.WaitForReplicationAsync();
            row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_user");
            Assert.Equal(true, row[0]);
            Assert.Equal(role, row[1]);
        }
        finally
        {
            foreach (var standby in fx.Cluster.Standbys)
                await standby.ResumeReplayAsync();
        }
    }

    [Fact]
    public async Task A_SET_travels_in_the_round_trip_of_the_first_standby_read_after_it()
    {
        var ports = fx.Cluster.Standbys.Select(n => n.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        var trace = System.Diagnostics.ActivityTraceId.CreateRandom();
        var onStandbys = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> o) =>
                o.Parent.TraceId == trace ? System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded : System.Diagnostics.ActivitySamplingResult.None,
            ActivityStopped = a =>
            {
                if (!a.OperationName.StartsWith("CONNECT", StringComparison.Ordinal)
                    && a.TagObjects.Any(t => t.Key.EndsWith("port", StringComparison.Ordinal) && ports.Contains(t.Value?.ToString() ?? "")))
                    onStandbys.Enqueue(a);
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await fx.Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS state_trip_writes (id int)");
        await fx.Cluster.WaitForReplicationAsync();
        // A connection that has written holds a primary session: its SETs run there and travel to the standby.
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "INSERT INTO state_trip_writes VALUES (1)");
        await NonQueryAsync(conn, "SET app.trip = 'one'");
        object?[] row;
        using (new System.Diagnostics.Activity("test").SetParentId(trace, System.Diagnostics.ActivitySpanId.CreateRandom(), System.Diagnostics.ActivityTraceFlags.Recorded).Start())
            row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.trip')");
        Assert.Equal(true, row[0]);
        Assert.Equal("one", row[1]);
        // One command on the standby, not a replay followed by the read.
        var commands = onStandbys.ToList();
        Assert.True(commands.Count == 1, string.Join(" | ", commands.Select(a => string.Join(",", a.TagObjects.Select(t => $"{t.Key}={t.Value}")))));
        Assert.Equal(1, conn.StateReplays);

        // The same for a command with $1-style parameters (one statement per command: the state rides in one block).
        await NonQueryAsync(conn, "SET app.trip = 'it''s two'");
        onStandbys.Clear();
        using (new System.Diagnostics.Activity("test").SetParentId(trace, System.Diagnostics.ActivitySpanId.CreateRandom(), System.Diagnostics.ActivityTraceFlags.Recorded).Start())
        {
            await using var routed = conn.CreateCommand();
            routed.CommandText = "SELECT pg_is_in_recovery(), current_setting('app.trip'), $1::int";
            routed.Parameters.Add(new Npgsql.NpgsqlParameter<int> { TypedValue = 7 });
            await using var r = await routed.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
            row = [r.GetValue(0), r.GetValue(1), r.GetValue(2)];
        }
        Assert.Equal(true, row[0]);
        Assert.Equal("it's two", row[1]);
        Assert.Equal(7, row[2]);
        commands = onStandbys.ToList();
        Assert.True(commands.Count == 1, string.Join(" | ", commands.Select(a => string.Join(",", a.TagObjects.Select(t => $"{t.Key}={t.Value}")))));
        Assert.Equal(2, conn.StateReplays);
    }

    [Fact]
    public async Task A_read_that_fails_after_carried_state_leaves_the_standby_session_to_take_it_again()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET app.carry = 'kept'");
        // Failing at once: re-run on the primary session, where the read fails the same way.
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => ScalarAsync(conn, "SELECT 1 / (pg_is_in_recovery()::int - pg_is_in_recovery()::int)"));
        Assert.Equal("22012", e.SqlState);
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.carry')");
        Assert.Equal(true, row[0]);
        Assert.Equal("kept", row[1]);

        // Failing after rows were read: the standby undid the state with the read's transaction.
        await NonQueryAsync(conn, "SET app.carry = 'again'");
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SELECT 1 / (3 - g) FROM generate_series(1, 5) g";
            await using var reader = await cmd.ExecuteReaderAsync();
            var failed = await Assert.ThrowsAsync<Npgsql.PostgresException>(async () =>
            {
                while (await reader.ReadAsync())
                {
                }
            });
            Assert.Equal("22012", failed.SqlState);
        }
        row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.carry')");
        Assert.Equal(true, row[0]);
        Assert.Equal("again", row[1]);
    }

    [Fact]
    public async Task A_SET_in_a_transaction_travels_after_COMMIT_and_not_after_ROLLBACK()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using var set = conn.CreateCommand();
            set.CommandText = "SET app.tx = 'rolled back'";
            await set.ExecuteNonQueryAsync();
            await tx.RollbackAsync();
        }
        Assert.Equal(new object?[] { true, "" }, await RowAsync(conn, "SELECT pg_is_in_recovery(), coalesce(current_setting('app.tx', true), '')"));
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "SET app.tx = 'committed'");
        await NonQueryAsync(conn, "COMMIT");
        Assert.Equal(new object?[] { true, "committed" }, await RowAsync(conn, "SELECT pg_is_in_recovery(), current_setting('app.tx', true)"));
    }

    // A role of its own (GRANT pg_database_owner TO it fails with XX000, after which Npgsql closes the connection).
    // A table the test needs, replicated to the standbys, and a data source of the shared cluster.
    private async Task<PgRoutingDataSource> WithTableAsync(string ddl)
    {
        await fx.Cluster.Primary.ExecuteAsync(ddl);
        await fx.Cluster.WaitForReplicationAsync();
        return await fx.CreateDataSourceAsync();
    }

    private async Task<string> NewRoleAsync(string prefix)
    {
        var role = prefix + Guid.NewGuid().ToString("N")[..8];
        await fx.Cluster.Primary.ExecuteAsync($"CREATE ROLE {role} NOLOGIN");
        return role;
    }

    [Fact]
    public async Task A_statement_that_breaks_the_primary_session_reports_its_temporary_tables_lost_itself()
    {
        // The corpus's privileges file: GRANT pg_database_owner TO a role fails with XX000, and Npgsql closes the
        // physical connection after an XX000 error, so the temporary table is gone. The failing statement says so;
        // the next one, which the same replay straight on the primary runs fine, must not fail in its place.
        var role = await NewRoleAsync("state_xx_");
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_xx_tmp (id int)");
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, $"GRANT pg_database_owner TO {role}"));
        Assert.Equal(RoutingFailure.SessionLost, e.Failure);
        Assert.Equal("XX000", Assert.IsType<Npgsql.PostgresException>(e.InnerException).SqlState);
        await NonQueryAsync(conn, $"CREATE TABLE IF NOT EXISTS {role}_after (id int)");
        var gone = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => ScalarAsync(conn, "SELECT count(*) FROM state_xx_tmp"));
        Assert.Equal("42P01", gone.SqlState);
        await NonQueryAsync(conn, $"DROP TABLE {role}_after");
    }

    [Fact]
    public async Task A_statement_that_breaks_the_transaction_connection_reports_the_transaction_lost_itself()
    {
        // The corpus's copy2 file: a statement in a SQL transaction after which Npgsql closed the connection. The
        // statement reports the transaction lost; the COMMIT after it is then outside any transaction, as on a plain
        // connection opened anew, and commits nothing of it.
        var role = await NewRoleAsync("state_xt_");
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "CREATE TEMP TABLE state_xt_tmp (id int)");
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, $"CREATE TABLE {role}_t (id int)");
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, $"GRANT pg_database_owner TO {role}"));
        Assert.Equal(RoutingFailure.TransactionLost, e.Failure);
        Assert.Equal("XX000", Assert.IsType<Npgsql.PostgresException>(e.InnerException).SqlState);
        await NonQueryAsync(conn, "COMMIT");
        Assert.Equal(false, await ScalarAsync(conn, $"SELECT to_regclass('{role}_t') IS NOT NULL FROM (SELECT pg_is_in_recovery()) r"));
        Assert.False(conn.Session.InTransaction);
    }

    [Fact]
    public async Task A_write_failing_after_its_first_row_fails_and_the_connection_goes_on()
    {
        // The corpus's privileges file: SELECT lo_unlink(oid) FROM ... returned a row, then failed on the next one
        // (42501); run with its commit position, the data source spun on the driver's results for good.
        await fx.Cluster.Primary.ExecuteAsync("CREATE SEQUENCE IF NOT EXISTS state_mid_seq");
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var run = NonQueryAsync(conn, "SELECT nextval('state_mid_seq') / (2 - g) FROM generate_series(1, 3) g");
        // A bound on a hang, not a timing target: the statement answers at once when it works.
        var failed = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => run.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal("22012", failed.SqlState);
        Assert.Equal(1, await ScalarAsync(conn, "SELECT 1"));
    }

    [Fact]
    public async Task A_write_failing_after_its_first_row_leaves_the_next_write_its_own_result()
    {
        // The corpus's privileges file: after SELECT lo_unlink(oid) ... failed on its second row, Npgsql 10.0.0 left
        // the commit position's result (after the error barrier) unread on the primary session, and every later
        // statement there got the result of the one before it (a failing SET SESSION AUTHORIZATION "succeeded").
        await fx.Cluster.Primary.ExecuteAsync("CREATE SEQUENCE IF NOT EXISTS state_mid_seq");
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "SET app.mid = 'kept'");
        var failed = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "SELECT nextval('state_mid_seq') / (2 - g) FROM generate_series(1, 3) g"));
        Assert.Equal("22012", failed.SqlState);
        Assert.Equal("after the failure: kept", await ScalarAsync(conn, "INSERT INTO items (owner) VALUES ('state_mid') RETURNING 'after the failure: ' || current_setting('app.mid', true)"));
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "SET SESSION AUTHORIZATION state_no_such_role"));
        Assert.Equal("22023", e.SqlState);
        Assert.Equal("kept", await ScalarAsync(conn, "SELECT current_setting('app.mid')"));
    }

    [Fact]
    public async Task A_failed_PREPARE_TRANSACTION_ends_the_transaction_and_later_writes_count_for_reads()
    {
        // The corpus's prepared_xacts file (max_prepared_transactions = 0): PREPARE TRANSACTION fails and PostgreSQL
        // rolls the transaction back. The session took itself to be still in it, so a CREATE TABLE after it (autocommit
        // on the server) counted for nothing at the next ROLLBACK, and a read of that table went to a standby that had
        // not replayed it (42P01).
        var table = "state_px_" + Environment.TickCount64.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "INSERT INTO items (owner) VALUES ('state_px')");
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => NonQueryAsync(conn, "PREPARE TRANSACTION 'state_px'"));
        Assert.Equal("55000", e.SqlState);
        Assert.False(conn.Session.InTransaction);
        Assert.Null(conn.PinnedConnection);
        await fx.Cluster.Standbys[0].PauseReplayAsync();
        await fx.Cluster.Standbys[1].PauseReplayAsync();
        try
        {
            await NonQueryAsync(conn, $"CREATE TABLE {table} (a int)");
            await NonQueryAsync(conn, "BEGIN");
            await NonQueryAsync(conn, $"LOCK TABLE {table} IN ACCESS SHARE MODE NOWAIT");
            await NonQueryAsync(conn, "ROLLBACK");
            Assert.Equal(0L, await ScalarAsync(conn, $"SELECT count(*) FROM {table}"));
        }
        finally
        {
            await fx.Cluster.Standbys[0].ResumeReplayAsync();
            await fx.Cluster.Standbys[1].ResumeReplayAsync();
        }
    }

    [Fact]
    public async Task SET_SESSION_AUTHORIZATION_ends_an_earlier_SET_ROLE_on_the_standby_too()
    {
        // The corpus's privileges file: SET ROLE, then SET / RESET SESSION AUTHORIZATION, which resets the role in
        // PostgreSQL; the replay on another session must not bring the role back. A plain connection says what is right.
        var role = await NewRoleAsync("state_sa_");
        await fx.Cluster.Primary.ExecuteAsync($"GRANT SELECT ON items TO {role}");
        await fx.Cluster.WaitForReplicationAsync();
        await using var plain = new Npgsql.NpgsqlConnection(fx.Cluster.Primary.ConnectionString);
        await plain.OpenAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        foreach (var c in new System.Data.Common.DbConnection[] { plain, conn })
        {
            await NonQueryAsync(c, $"SET ROLE {role}");
            await NonQueryAsync(c, "RESET SESSION AUTHORIZATION");
        }
        var expected = await ScalarAsync(plain, "SELECT current_user");
        var row = await RowAsync(conn, "SELECT pg_is_in_recovery(), current_user");
        Assert.Equal(true, row[0]);
        Assert.Equal(expected, row[1]);
    }

    [Fact]
    public async Task A_write_returning_a_composite_value_runs_as_on_a_plain_connection()
    {
        // The corpus's domain/insert/plpgsql files: a write (its commit position read in its round trip) whose result
        // is a composite the driver has no mapping for; ExecuteNonQuery never reads it on a plain connection.
        await fx.Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS state_comp (a int, b text)");
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO state_comp VALUES (1, 'x') RETURNING state_comp"));
    }
}
