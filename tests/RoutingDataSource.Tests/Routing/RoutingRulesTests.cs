using System.Data;
using Npgsql;
using RoutingDataSource.Tests.Infrastructure;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Routing;

/// <summary>DESIGN.md "Routing rules", one test per rule, against the shared real cluster.</summary>
[Collection("cluster")]
public sealed class RoutingRulesTests(ClusterFixture fx)
{
    private int PrimaryPort => fx.Cluster.Primary.Port;

    private HashSet<int> StandbyPorts => fx.Cluster.Standbys.Select(s => s.Port).ToHashSet();

    [Fact]
    public async Task Read_outside_transaction_goes_to_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var ports = new List<int>();
        for (var i = 0; i < 60; i++)
            ports.Add(await ServerPortAsync(conn));
        Assert.All(ports, p => Assert.Contains(p, StandbyPorts));
        Assert.Equal(2, ports.Distinct().Count()); // both standbys share the reads
        Assert.Equal(0, ds.Backend("n0").ReadCount);
        Assert.Equal(60, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
    }

    [Fact]
    public async Task Write_goes_to_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var port = await ScalarAsync(conn, "INSERT INTO items(owner, v) VALUES ('write-test', 'x') RETURNING inet_server_port()");
        Assert.Equal(PrimaryPort, Convert.ToInt32(port));
        Assert.Equal(1, ds.Backend("n0").WriteCount);
        Assert.Equal(0, ds.Backend("n1").WriteCount + ds.Backend("n2").WriteCount);
    }

    [Fact]
    public async Task Reads_are_spread_by_weight()
    {
        // Weights 1 and 3, taken in turn: exactly one read in every four consecutive reads runs on n1.
        await using var weighted = await BuildWeightedAsync(n1: 1, n2: 3);
        await using var conn = await weighted.OpenConnectionAsync();
        var n1Port = fx.Cluster.Node("n1").Port;
        var onN1 = new List<bool>();
        for (var i = 0; i < 400; i++)
            onN1.Add(await ServerPortAsync(conn) == n1Port);
        Assert.Equal(100, weighted.Backend("n1").ReadCount);
        Assert.Equal(300, weighted.Backend("n2").ReadCount);
        for (var i = 0; i + 4 <= onN1.Count; i++)
            Assert.True(onN1.Skip(i).Take(4).Count(x => x) == 1, $"reads {i}..{i + 3}: {onN1.Skip(i).Take(4).Count(x => x)} on n1, expected 1");
    }

    [Fact]
    public async Task Concurrent_reads_take_the_standbys_in_turn()
    {
        // Every read takes the next turn, whichever caller it comes from: 8 callers x 50 reads split exactly in half.
        // (A random choice gives exactly 200 each in about 4% of runs.)
        await using var ds = await fx.CreateDataSourceAsync();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                await using var conn = await ds.OpenConnectionAsync();
                await ScalarAsync(conn, "SELECT 1");
            }
        })));
        Assert.Equal(0, ds.Backend("n0").ReadCount);
        Assert.Equal(200, ds.Backend("n1").ReadCount);
        Assert.Equal(200, ds.Backend("n2").ReadCount);
    }

    [Fact]
    public async Task Weight_zero_never_serves_reads()
    {
        await using var ds = await BuildWeightedAsync(n1: 0, n2: 1);
        await using var conn = await ds.OpenConnectionAsync();
        for (var i = 0; i < 50; i++)
            Assert.Equal(fx.Cluster.Node("n2").Port, await ServerPortAsync(conn));
        Assert.Equal(0, ds.Backend("n1").ReadCount);
    }

    [Fact]
    public async Task A_weighted_primary_serves_reads_only_with_PrimaryServesReads_ByWeight()
    {
        foreach (var mode in new[] { PrimaryReadMode.WhenNoStandby, PrimaryReadMode.ByWeight })
        {
            await using var ds = await fx.CreateDataSourceAsync(b => b.Options.PrimaryServesReads = mode, primaryWeight: 1);
            await using var conn = await ds.OpenConnectionAsync();
            var ports = new HashSet<int>();
            for (var i = 0; i < 90; i++)
                ports.Add(await ServerPortAsync(conn));
            Assert.Equal(mode == PrimaryReadMode.ByWeight, ports.Contains(PrimaryPort));
            Assert.Equal(mode == PrimaryReadMode.ByWeight ? 30 : 0, ds.Backend("n0").ReadCount);
        }
    }

    [Fact]
    public async Task Transaction_runs_on_the_primary_from_first_statement_to_end()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            for (var i = 0; i < 5; i++)
                Assert.Equal(PrimaryPort, await ServerPortAsync(conn, tx));
            await tx.CommitAsync();
        }
        Assert.Contains(await ServerPortAsync(conn), StandbyPorts); // autocommit again after the commit
    }

    [Fact]
    public async Task Read_only_transaction_runs_on_one_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var tx = await conn.BeginReadOnlyTransactionAsync();
        var first = await ServerPortAsync(conn, tx);
        Assert.Contains(first, StandbyPorts);
        for (var i = 0; i < 10; i++)
            Assert.Equal(first, await ServerPortAsync(conn, tx));
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_is_in_recovery()"));
        await tx.CommitAsync();
    }

    [Fact]
    public async Task Write_inside_read_only_transaction_is_rejected_not_rerouted()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var tx = await conn.BeginReadOnlyTransactionAsync();
        await ServerPortAsync(conn, tx);
        var e = await Assert.ThrowsAsync<PostgresException>(() => NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('ro')"));
        Assert.Equal("25006", e.SqlState);
        Assert.Equal(0, ds.Backend("n1").RerouteCount + ds.Backend("n2").RerouteCount);
    }

    [Fact]
    public async Task Sql_begin_read_only_goes_to_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN READ ONLY");
        var port = await ServerPortAsync(conn);
        Assert.Contains(port, StandbyPorts);
        Assert.Equal(port, await ServerPortAsync(conn));
        await NonQueryAsync(conn, "COMMIT");
    }

    [Fact]
    public async Task Begin_then_set_transaction_read_only_goes_to_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "SET TRANSACTION READ ONLY");
        var port = await ServerPortAsync(conn);
        Assert.Contains(port, StandbyPorts);
        Assert.Equal(port, await ServerPortAsync(conn));
        await NonQueryAsync(conn, "COMMIT");
    }

    [Fact]
    public async Task Sql_begin_transaction_stays_on_the_primary_until_commit()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "INSERT INTO items(owner, v) VALUES ('sql-tx', 'a')");
        Assert.Equal(PrimaryPort, await ServerPortAsync(conn));
        Assert.Equal(1L, await ScalarAsync(conn, "SELECT count(*) FROM items WHERE owner = 'sql-tx'")); // sees its own uncommitted row
        await NonQueryAsync(conn, "ROLLBACK");
        Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
        Assert.Equal(0L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'sql-tx'"));
    }

    [Fact]
    public async Task Session_state_set_inside_a_read_only_transaction_travels_after_its_commit()
    {
        // As on a plain connection, a SET (not SET LOCAL) made in a transaction stays after its COMMIT: here it was
        // made on a standby, and the primary session gets it before the next write. Nothing is left pinned.
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN READ ONLY");
        Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
        await NonQueryAsync(conn, "SET application_name = 'set-in-ro-tx'");
        await NonQueryAsync(conn, "COMMIT");
        Assert.Equal("set-in-ro-tx", await ScalarAsync(conn, "INSERT INTO items(owner, v) VALUES ('after-ro-tx', current_setting('application_name')) RETURNING v"));
        Assert.Null(conn.PinnedConnection);
    }

    [Theory]
    [InlineData("BEGIN")]
    [InlineData("api")]
    public async Task Session_state_set_by_the_first_statement_of_a_transaction_travels_after_its_commit(string begin)
    {
        // On a plain connection a SET (not SET LOCAL) made inside a transaction stays after the COMMIT; the standby
        // that serves the next read gets it.
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var tx = begin == "api" ? await conn.BeginTransactionAsync() : null;
        if (tx is null)
            await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "SET application_name = 'set-in-tx'");
        if (tx is null)
            await NonQueryAsync(conn, "COMMIT");
        else
            await tx.CommitAsync();
        Assert.Equal("set-in-tx", await ScalarAsync(conn, "SELECT current_setting('application_name')"));
        Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
    }

    [Theory]
    [InlineData("SET search_path TO public")]
    [InlineData("SET application_name = 'travels'")]
    [InlineData("CREATE TEMP TABLE tmp_pin(x int)")]
    [InlineData("PREPARE pin_stmt AS SELECT 1")]
    [InlineData("LISTEN pin_channel")]
    [InlineData("SELECT pg_advisory_lock(4242)")]
    [InlineData("SELECT set_config('application_name', 'travels', false)")]
    public async Task Session_state_the_router_models_leaves_the_reads_on_standbys(string sessionStatement)
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await ScalarAsync(conn, sessionStatement);
        for (var i = 0; i < 5; i++)
            Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
        Assert.Null(conn.PinnedConnection);
    }

    [Theory]
    [InlineData("SELECT setseed(0.5)")]
    [InlineData("SET application_name = 'pinned'; SELECT 1")]
    [InlineData("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")]
    [InlineData("SELECT set_config('application_name', current_user, false)")]
    public async Task Session_state_the_router_does_not_model_pins_the_connection_to_the_primary_until_it_closes(string sessionStatement)
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using (var conn = await ds.OpenConnectionAsync())
        {
            Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
            await ScalarAsync(conn, sessionStatement);
            for (var i = 0; i < 5; i++)
                Assert.Equal(PrimaryPort, await ServerPortAsync(conn));
        }
        await using var again = await ds.OpenConnectionAsync();
        Assert.Contains(await ServerPortAsync(again), StandbyPorts);
    }

    [Fact]
    public async Task Session_state_is_usable_and_reset_when_the_connection_closes()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        int primarySession;
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await NonQueryAsync(conn, "CREATE TEMP TABLE tmp_state(x int)");
            await NonQueryAsync(conn, "INSERT INTO tmp_state VALUES (1), (2)");
            Assert.Equal(2L, await ScalarAsync(conn, "SELECT count(*) FROM tmp_state"));
            await NonQueryAsync(conn, "PREPARE two AS SELECT 2");
            Assert.Equal(2, await ScalarAsync(conn, "EXECUTE two"));
            await ScalarAsync(conn, "SELECT nextval('items_id_seq')");
            Assert.NotNull(await ScalarAsync(conn, "SELECT currval('items_id_seq')"));
            primarySession = Convert.ToInt32(await ScalarAsync(conn, "/* route: primary */ SELECT pg_backend_pid()"));
        }
        // Npgsql resets a pooled connection (DISCARD ALL) when it is reused: in that server session the temp table and
        // the prepared statement are gone. Bounded: the pool hands the idle connector out again.
        var seen = false;
        for (var i = 0; i < 10 && !seen; i++)
        {
            await using var next = await ds.OpenConnectionAsync();
            await using var cmd = next.CreateCommand();
            cmd.CommandText = "/* route: primary */ SELECT pg_backend_pid(), to_regclass('pg_temp.tmp_state') IS NULL, NOT EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = 'two')";
            await using var r = await cmd.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
            if (r.GetInt32(0) != primarySession)
                continue;
            seen = true;
            Assert.True(r.GetBoolean(1), "the temporary table outlived the connection");
            Assert.True(r.GetBoolean(2), "the prepared statement outlived the connection");
        }
        Assert.True(seen, "the primary session was never handed out again");
    }

    [Fact]
    public async Task Unknown_function_volatility_is_resolved_from_pg_proc()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        // Created before the data source started: known from the preload.
        Assert.Equal(42, await ScalarAsync(conn, "SELECT stable_answer()"));
        Assert.Equal(1, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
        Assert.Equal(42, await ScalarAsync(conn, "SELECT volatile_answer()"));
        Assert.Equal(1, ds.Backend("n0").WriteCount);

        // Created after: unknown at first (primary), then looked up once and served by a standby.
        await fx.Cluster.Primary.ExecuteAsync("CREATE OR REPLACE FUNCTION late_stable() RETURNS int LANGUAGE sql STABLE AS 'SELECT 7'");
        await fx.Cluster.WaitForReplicationAsync();
        Assert.Equal(7, await ScalarAsync(conn, "SELECT late_stable()"));
        Assert.Equal(2, ds.Backend("n0").WriteCount);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ds.Volatility.Get("late_stable") == RoutingDataSource.Routing.FunctionSafety.Unknown && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(7, await ScalarAsync(conn, "SELECT late_stable()"));
        Assert.Equal(2, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task At_start_up_a_read_calling_a_function_waits_for_the_volatility_load_instead_of_going_to_the_primary(bool asBatch)
    {
        // Not warmed up: the first statement comes before the first health round and the one-time load of pg_proc.
        await using var ds = Build(fx.Cluster);
        await using var conn = await ds.OpenConnectionAsync();
        object? answer;
        if (asBatch)
        {
            await using var batch = conn.CreateBatch();
            var bc = batch.CreateBatchCommand();
            bc.CommandText = "SELECT stable_answer()";
            batch.BatchCommands.Add(bc);
            answer = await batch.ExecuteScalarAsync();
        }
        else
        {
            answer = await ScalarAsync(conn, "SELECT stable_answer()");
        }
        Assert.Equal(42, answer);
        Assert.Equal(0, ds.Backend("n0").ReadCount + ds.Backend("n0").WriteCount);
        Assert.Equal(1, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
    }

    [Fact]
    public async Task Function_lists_in_options_force_either_way()
    {
        await using var ds = await fx.CreateDataSourceAsync(b =>
        {
            b.Options.ReadOnlyFunctions.Add("volatile_answer");
            b.Options.WriteFunctions.Add("stable_answer");
        });
        await using var conn = await ds.OpenConnectionAsync();
        await ScalarAsync(conn, "SELECT volatile_answer()");
        await ScalarAsync(conn, "SELECT stable_answer()");
        Assert.Equal(1, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
        Assert.Equal(1, ds.Backend("n0").WriteCount);
    }

    [Fact]
    public async Task Primary_hint_keeps_a_read_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(PrimaryPort, Convert.ToInt32(await ScalarAsync(conn, "/* route: primary */ SELECT inet_server_port()")));
        Assert.Equal(1, ds.Backend("n0").ReadCount);
    }

    [Fact]
    public async Task Standby_hint_never_turns_a_write_into_a_read()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var port = await ScalarAsync(conn, "/* route: standby */ INSERT INTO items(owner) VALUES ('hint') RETURNING inet_server_port()");
        Assert.Equal(PrimaryPort, Convert.ToInt32(port));
    }

    [Fact]
    public async Task Standby_answering_25006_is_rerouted_to_the_primary_and_counted()
    {
        // Vouching for a function that in fact writes makes the router send it to a standby, which refuses it.
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadOnlyFunctions.Add("sneaky_insert"));
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(1, await ScalarAsync(conn, "SELECT sneaky_insert('rerouted')"));
        var status = ds.GetStatus();
        Assert.Equal(1, status["n1"]!.RerouteCount + status["n2"]!.RerouteCount);
        Assert.Equal(1, status["n0"]!.ReadCount);
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'sneaky' AND v = 'rerouted'"));
    }

    [Fact]
    public async Task Two_primaries_on_the_same_timeline_make_writes_fail_fast()
    {
        // Two independent primaries, both on timeline 1: the data source cannot know which one is real.
        await using var other = await RoutingDataSource.Testing.LocalPgCluster.StartAsync(new() { Standbys = 0, NamePrefix = "x" });
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("a", fx.Cluster.Primary.ConnectionString);
        b.AddBackend("b", other.Primary.ConnectionString);
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(20);
        await using var ds = b.Build();
        await ds.RefreshStatusAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var started = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, "CREATE TABLE never(x int)"));
        Assert.Contains("two primaries", e.Message, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "writes must fail fast, not wait for FailoverTimeout");
        Assert.Null(ds.GetStatus().PrimaryName);
    }

    [Fact]
    public async Task Without_a_primary_writes_wait_then_fail_naming_the_backends_while_reads_work()
    {
        var b = new PgRoutingDataSourceBuilder();
        foreach (var s in fx.Cluster.Standbys)
            b.AddBackend(s.Name, s.ConnectionString);
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(1);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        await using var ds = b.Build();
        await WarmUpAsync(ds); // function volatility comes from a standby's catalog when there is no primary
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('nowhere')"));
        Assert.Contains("No writable primary", e.Message, StringComparison.Ordinal);
        Assert.Contains("n1", e.Message, StringComparison.Ordinal);
        Assert.Contains("n2", e.Message, StringComparison.Ordinal);
        Assert.True(e.IsTransient);
    }

    [Fact]
    public async Task Unreachable_backend_at_build_is_not_an_error()
    {
        var deadPort = FreePort();
        await using var ds = await fx.CreateDataSourceAsync(b => b.AddBackend("dead", $"Host=127.0.0.1;Port={deadPort};Username=postgres;Timeout=1", 1));
        await using var conn = await ds.OpenConnectionAsync();
        for (var i = 0; i < 20; i++)
            Assert.Contains(await ServerPortAsync(conn), StandbyPorts);
        var dead = ds.Backend("dead");
        Assert.Equal(BackendState.Down, dead.State);
        Assert.Equal(0, dead.ReadCount);
        Assert.NotNull(dead.LastError);
    }

    [Fact]
    public async Task Batch_of_reads_goes_to_a_standby_and_a_batch_with_a_write_to_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using (var batch = conn.CreateBatch())
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT inet_server_port()"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 2"));
            await using var r = await batch.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
            Assert.Contains(r.GetInt32(0), StandbyPorts);
            Assert.True(await r.NextResultAsync());
            Assert.True(await r.ReadAsync());
            Assert.Equal(2, r.GetInt32(0));
        }
        await using (var batch = conn.CreateBatch())
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT inet_server_port()"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("INSERT INTO items(owner) VALUES ('batch')"));
            Assert.Equal(PrimaryPort, Convert.ToInt32(await batch.ExecuteScalarAsync()));
        }
        Assert.Equal(2, ds.Backend("n0").WriteCount);
    }

    [Fact]
    public async Task Escape_hatch_returns_the_pinned_primary_npgsql_connection()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var physical = await conn.GetNpgsqlConnectionAsync();
        Assert.Equal(PrimaryPort, physical.Port);
        await using (var writer = await physical.BeginBinaryImportAsync("COPY items (owner, v) FROM STDIN (FORMAT BINARY)"))
        {
            await writer.WriteRowAsync(default, "copy", "1");
            await writer.CompleteAsync();
        }
        Assert.Equal(PrimaryPort, await ServerPortAsync(conn)); // pinned
        Assert.Equal(1L, await ScalarAsync(conn, "SELECT count(*) FROM items WHERE owner = 'copy'"));
    }

    private async Task<PgRoutingDataSource> BuildWeightedAsync(int n1, int n2)
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", fx.Cluster.Primary.ConnectionString, 0);
        b.AddBackend("n1", fx.Cluster.Node("n1").ConnectionString, n1);
        b.AddBackend("n2", fx.Cluster.Node("n2").ConnectionString, n2);
        var ds = b.Build();
        await WarmUpAsync(ds);
        return ds;
    }

    internal static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}

[Collection("cluster")]
public sealed class SessionContinuityTests(ClusterFixture fx)
{
    [Fact]
    public async Task Currval_after_an_insert_with_a_serial_default_runs_in_the_same_primary_session()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('serial-default')"); // nextval() runs inside the default
        var id = Convert.ToInt64(await ScalarAsync(conn, "SELECT currval('items_id_seq')"));
        Assert.Equal(id, await fx.Cluster.Primary.ScalarAsync<long>("SELECT max(id) FROM items WHERE owner = 'serial-default'"));
        Assert.Equal(id, Convert.ToInt64(await ScalarAsync(conn, "SELECT lastval()")));
    }

    [Fact]
    public async Task Volatile_builtins_that_only_read_are_served_by_a_standby()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(true, await ScalarAsync(conn, "SELECT pg_is_in_recovery() AND random() < 2"));
        Assert.Equal(1, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
    }

    [Fact]
    public async Task Commit_and_chain_keeps_the_transaction_on_its_server()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('chain-1')");
        await NonQueryAsync(conn, "COMMIT AND CHAIN");
        Assert.Equal(fx.Cluster.Primary.Port, await ServerPortAsync(conn)); // still in the chained transaction
        await NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('chain-2')");
        await NonQueryAsync(conn, "ROLLBACK");
        Assert.Equal(0L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'chain-2'"));
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'chain-1'"));
    }
}

[Collection("cluster")]
public sealed class DetachTests(ClusterFixture fx)
{
    [Fact]
    public async Task Detached_standby_gets_no_reads_until_it_is_attached_again()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        ds.DetachBackend("n2");
        var status = await ds.RefreshStatusAsync();
        Assert.Equal(BackendState.Detached, status["n2"]!.State);
        Assert.False(status["n2"]!.ServesReads);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 30; i++)
                Assert.Equal(fx.Cluster.Node("n1").Port, await ServerPortAsync(conn));
        }
        Assert.Equal(0, ds.Backend("n2").ReadCount);

        ds.AttachBackend("n2");
        Assert.Equal(BackendState.Up, (await ds.RefreshStatusAsync())["n2"]!.State);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 60 && ds.Backend("n2").ReadCount == 0; i++)
                await ServerPortAsync(conn);
        }
        Assert.True(ds.Backend("n2").ReadCount > 0);
        Assert.Throws<ArgumentException>(() => ds.DetachBackend("nope"));
    }
}
