using System.Data;
using System.Data.Common;
using Dapper;
using Npgsql;
using RoutingDataSource.Connections;
using RoutingDataSource.Tests.Infrastructure;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Routing;

/// <summary>The routing connection behaves as ADO.NET (and Npgsql users) expect, sync and async.</summary>
[Collection("cluster")]
public sealed class AdoNetBehaviourTests(ClusterFixture fx)
{
    [Fact]
    public async Task Opening_contacts_no_server_and_state_changes_raise_events()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var conn = ds.CreateConnection();
        var changes = new List<(ConnectionState, ConnectionState)>();
        conn.StateChange += (_, e) => changes.Add((e.OriginalState, e.CurrentState));
        await conn.OpenAsync();
        Assert.Equal(ConnectionState.Open, conn.State);
        Assert.Null(conn.PinnedConnection);
        Assert.All(ds.GetStatus().Backends, b => Assert.Equal(0, b.ReadCount + b.WriteCount));
        await conn.CloseAsync();
        Assert.Equal([(ConnectionState.Closed, ConnectionState.Open), (ConnectionState.Open, ConnectionState.Closed)], changes);
        await conn.DisposeAsync();
    }

    [Fact]
    public async Task Parameters_and_multiple_result_sets_work()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT @a::int + 1; SELECT @b::text || '!'";
        cmd.Parameters.AddWithValue("a", 41);
        cmd.Parameters.AddWithValue("b", "hi");
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.Equal(42, r.GetInt32(0));
        Assert.True(await r.NextResultAsync());
        Assert.True(await r.ReadAsync());
        Assert.Equal("hi!", r.GetString(0));
        Assert.False(await r.NextResultAsync());
        var schema = r.GetSchemaTable();
        Assert.Contains(r.BackendName, new[] { "n1", "n2" });
    }

    [Fact]
    public async Task Synchronous_api_routes_like_the_async_one()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        using var conn = ds.OpenConnection();
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SELECT inet_server_port()";
            Assert.Contains(Convert.ToInt32(cmd.ExecuteScalar()), fx.Cluster.Standbys.Select(s => s.Port));
            cmd.CommandText = "INSERT INTO items(owner) VALUES ('sync') RETURNING inet_server_port()";
            Assert.Equal(fx.Cluster.Primary.Port, Convert.ToInt32(cmd.ExecuteScalar()));
            cmd.CommandText = "SELECT 1 UNION ALL SELECT 2";
            using var r = cmd.ExecuteReader();
            var n = 0;
            while (r.Read())
                n += r.GetInt32(0);
            Assert.Equal(3, n);
        }
        using var tx = conn.BeginTransaction(IsolationLevel.Serializable);
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SHOW transaction_isolation";
            Assert.Equal("serializable", cmd.ExecuteScalar());
        }
        tx.Rollback();
    }

    [Fact]
    public async Task Prepared_command_runs_on_whichever_server_it_is_routed_to()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT $1::int * 2";
        cmd.Parameters.Add(new NpgsqlParameter { Value = 0 });
        await cmd.PrepareAsync();
        for (var i = 0; i < 20; i++)
        {
            cmd.Parameters[0].Value = i;
            Assert.Equal(i * 2, await cmd.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task Command_timeout_applies_and_the_connection_recovers()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT pg_sleep(5)";
        cmd.CommandTimeout = 1;
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal(5, await ScalarAsync(conn, "SELECT 5"));
    }

    [Fact]
    public async Task Cancel_stops_a_running_statement()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT pg_sleep(30)";
        var run = cmd.ExecuteNonQueryAsync();
        await Task.Delay(500);
        cmd.Cancel();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => run);
        Assert.True(e is OperationCanceledException || e is PostgresException { SqlState: "57014" }, e.ToString());
    }

    [Fact]
    public async Task Cancel_of_a_finished_command_does_not_reach_another_connections_statement()
    {
        // Physical NpgsqlConnection objects are reused across logical connections; a finished command must not be
        // able to cancel whatever a later logical connection runs on the object it used.
        var builder = new PgRoutingDataSourceBuilder();
        builder.AddBackend("n0", fx.Cluster.Primary.ConnectionString);
        await using var ds = builder.Build();
        await WarmUpAsync(ds);
        await using var idle = new RoutingCommand("SELECT 1");
        await using (var first = await ds.OpenConnectionAsync())
        {
            idle.Connection = first;
            Assert.Equal(1, await idle.ExecuteScalarAsync());
        }
        await using var second = await ds.OpenConnectionAsync();
        await using var busy = second.CreateCommand();
        busy.CommandText = "SELECT pg_sleep(0.6), 7";
        var run = busy.ExecuteReaderAsync();
        await Task.Delay(200);
        idle.Connection = second; // a stale command on an open connection, not running
        idle.Cancel();
        await using var r = await run;
        Assert.True(await r.ReadAsync());
        Assert.Equal(7, r.GetInt32(1));
    }

    [Fact]
    public async Task A_physical_connection_handed_to_the_application_is_never_reused()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        NpgsqlConnection physical;
        await using (var conn = await ds.OpenConnectionAsync())
        {
            physical = await conn.GetNpgsqlConnectionAsync();
            physical.Notification += (_, _) => { };
        }
        // Disposed with its logical connection: an object the application subscribed to is not handed out again.
        Assert.Throws<ObjectDisposedException>(() => physical.Open());
        await using var next = await ds.OpenConnectionAsync();
        var again = await next.GetNpgsqlConnectionAsync();
        Assert.NotSame(physical, again);
    }

    [Fact]
    public async Task CloseConnection_behaviour_closes_the_logical_connection_with_the_reader()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1";
        await using (var r = await cmd.ExecuteReaderAsync(CommandBehavior.CloseConnection))
            Assert.True(await r.ReadAsync());
        Assert.Equal(ConnectionState.Closed, conn.State);
    }

    [Fact]
    public async Task Savepoints_work_inside_a_transaction()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('sp-keep')");
        await tx.SaveAsync("s1");
        await NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('sp-drop')");
        await tx.RollbackAsync("s1");
        await tx.CommitAsync();
        Assert.Equal(1L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'sp-keep'"));
        Assert.Equal(0L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'sp-drop'"));
    }

    [Fact]
    public async Task Every_execute_method_returns_its_own_result_type_sync_and_async()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        // Row counts other than 0, so that a default value cannot pass for the result.
        cmd.CommandText = "INSERT INTO items(owner) VALUES ('exec-kinds'), ('exec-kinds')";
        Assert.Equal(2, cmd.ExecuteNonQuery());
        Assert.Equal(2, await cmd.ExecuteNonQueryAsync());
        cmd.CommandText = "SELECT 7";
        Assert.Equal(7, cmd.ExecuteScalar());
        Assert.Equal(7, await cmd.ExecuteScalarAsync());
        cmd.CommandText = "SELECT NULL::int";
        Assert.Equal(DBNull.Value, await cmd.ExecuteScalarAsync());
        cmd.CommandText = "SELECT 8";
        await using (var r = await cmd.ExecuteReaderAsync())
            Assert.True(await r.ReadAsync() && r.GetInt32(0) == 8);
        await using (var r = await ((DbCommand)cmd).ExecuteReaderAsync())
            Assert.True(await r.ReadAsync() && r.GetInt32(0) == 8);
        using (var r = ((IDbCommand)cmd).ExecuteReader())
            Assert.True(r.Read() && r.GetInt32(0) == 8);
        cmd.CommandText = "BEGIN"; // consumed without a server: NonQuery reports -1, Scalar null
        Assert.Equal(-1, await cmd.ExecuteNonQueryAsync());
        cmd.CommandText = "ROLLBACK";
        Assert.Null(await cmd.ExecuteScalarAsync());

        await using var batch = conn.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("INSERT INTO items(owner) VALUES ('exec-kinds')"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("INSERT INTO items(owner) VALUES ('exec-kinds'), ('exec-kinds')"));
        Assert.Equal(3, batch.ExecuteNonQuery());
        Assert.Equal(3, await batch.ExecuteNonQueryAsync());
        batch.BatchCommands.Clear();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 9"));
        Assert.Equal(9, batch.ExecuteScalar());
        Assert.Equal(9, await batch.ExecuteScalarAsync());
        using (var r = batch.ExecuteReader())
            Assert.True(r.Read() && r.GetInt32(0) == 9);
        await using (var r = await batch.ExecuteReaderAsync())
            Assert.True(await r.ReadAsync() && r.GetInt32(0) == 9);
        Assert.Equal(10L, await fx.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM items WHERE owner = 'exec-kinds'"));
    }

    [Fact]
    public async Task Async_execute_methods_report_misuse_in_the_task_not_by_throwing()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var conn = ds.CreateConnection(); // never opened
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1";
        await using var batch = conn.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 1"));
        Func<Task>[] calls =
        [
            () => cmd.ExecuteNonQueryAsync(), () => cmd.ExecuteScalarAsync(), () => cmd.ExecuteReaderAsync(),
            () => ((DbCommand)cmd).ExecuteReaderAsync(),
            () => batch.ExecuteNonQueryAsync(), () => batch.ExecuteScalarAsync(), () => batch.ExecuteReaderAsync(),
        ];
        foreach (var call in calls)
        {
            var task = call(); // must not throw here
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => task);
            Assert.Contains("not open", e.Message, StringComparison.Ordinal);
        }
        Assert.Throws<InvalidOperationException>(() => cmd.ExecuteScalar());
        Assert.Throws<InvalidOperationException>(() => batch.ExecuteNonQuery());
    }

    [Fact]
    public async Task Unsupported_operations_say_why()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Contains("database", Assert.Throws<NotSupportedException>(() => conn.ChangeDatabase("other")).Message, StringComparison.OrdinalIgnoreCase);
        using var scope = new System.Transactions.CommittableTransaction();
        Assert.Contains("System.Transactions", Assert.Throws<NotSupportedException>(() => conn.EnlistTransaction(scope)).Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => conn.ConnectionString = "Host=x");
    }

    [Fact]
    public async Task Dapper_works_unchanged()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var inserted = await conn.ExecuteAsync("INSERT INTO items(owner, v) VALUES (@Owner, @V)", new[] { new { Owner = "dapper", V = "a" }, new { Owner = "dapper", V = "b" } });
        Assert.Equal(2, inserted);
        // Read-your-writes (Connection scope): the same connection sees its rows at once.
        var rows = (await conn.QueryAsync<(long Id, string V)>("SELECT id, v FROM items WHERE owner = @o ORDER BY v", new { o = "dapper" })).ToList();
        Assert.Equal(["a", "b"], rows.Select(r => r.V));
        Assert.Equal(2, ds.Backend("n0").WriteCount);
        await fx.Cluster.WaitForReplicationAsync();
        // The read above may already have gone to a standby (a health round can see one replay the insert first);
        // what counts here is that this other connection's read is served by a standby.
        var standbyReads = ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount;
        await using var other = await ds.OpenConnectionAsync();
        Assert.Equal(2, await other.ExecuteScalarAsync<int>("SELECT count(*) FROM items WHERE owner = @o", new { o = "dapper" }));
        Assert.Equal(standbyReads + 1, ds.Backend("n1").ReadCount + ds.Backend("n2").ReadCount);
    }

    [Fact]
    public async Task DbDataSource_abstraction_works()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        DbDataSource abstractDs = ds;
        await using var cmd = abstractDs.CreateCommand("SELECT 3");
        Assert.Equal(3, await cmd.ExecuteScalarAsync());
        await using var conn = await abstractDs.OpenConnectionAsync();
        Assert.IsType<RoutingConnection>(conn);
    }

    [Fact]
    public async Task Credentials_never_appear_in_connection_string_status_or_errors()
    {
        const string secret = "s3cr3t-PASSWORD";
        var b = new PgRoutingDataSourceBuilder();
        foreach (var s in fx.Cluster.Standbys)
            b.AddBackend(s.Name, s.ConnectionStringWith(c => c.Password = secret));
        b.Options.FailoverTimeout = TimeSpan.FromMilliseconds(300);
        await using var ds = b.Build();
        await ds.RefreshStatusAsync();
        Assert.DoesNotContain(secret, ds.ConnectionString, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, ds.GetStatus().ToString(), StringComparison.Ordinal);
        await using var conn = await ds.OpenConnectionAsync();
        Assert.DoesNotContain(secret, conn.ConnectionString, StringComparison.Ordinal);
        var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, "INSERT INTO items(owner) VALUES ('x')"));
        Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_shows_roles_hosts_timelines_and_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var status = ds.GetStatus();
        Assert.Equal("n0", status.PrimaryName);
        Assert.Null(status.Problem);
        Assert.Equal(BackendRole.Primary, status["n0"]!.Role);
        foreach (var s in fx.Cluster.Standbys)
        {
            var b = status[s.Name]!;
            Assert.Equal(BackendRole.Standby, b.Role);
            Assert.Equal(BackendState.Up, b.State);
            Assert.Equal(s.Port, b.Port);
            Assert.Equal("127.0.0.1", b.Host);
            Assert.Equal(1, b.Timeline);
            Assert.True(b.ServesReads);
        }
        Assert.Contains("n0", status.ToString(), StringComparison.Ordinal);
    }
}
