using System.Data;
using Npgsql;
using RoutingDataSource.Connections;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Connections;

/// <summary>
/// A connection keeps its last disposed command and hands it out again, reset, as NpgsqlConnection does; the Npgsql
/// command inside a disposed routing command is recycled only when nothing the application holds belongs to it.
/// </summary>
[Collection("cluster")]
public sealed class CommandReuseTests(ClusterFixture fx)
{
    [Fact]
    public async Task A_cached_command_comes_back_with_no_text_parameters_or_transaction_and_the_default_timeout()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var defaults = new NpgsqlCommand();
        RoutingCommand first;
        await using (var tx = await conn.BeginTransactionAsync())
        {
            first = conn.CreateCommand();
            first.CommandText = "SELECT @a::int + 1";
            first.Parameters.AddWithValue("a", 41);
            first.Transaction = (RoutingTransaction)tx;
            first.UpdatedRowSource = UpdateRowSource.None;
            Assert.Equal(42, await first.ExecuteScalarAsync());
            await first.DisposeAsync();
            await tx.CommitAsync();
        }

        await using var again = conn.CreateCommand();
        Assert.Same(first, again);
        Assert.Equal("", again.CommandText);
        Assert.Empty(again.Parameters);
        Assert.Null(again.Transaction);
        Assert.Equal(CommandType.Text, again.CommandType);
        Assert.Equal(defaults.CommandTimeout, again.CommandTimeout);
        Assert.Equal(defaults.UpdatedRowSource, again.UpdatedRowSource);
        Assert.Null(again.InnerCommand.Connection);
        Assert.Same(conn, again.Connection);
        again.CommandText = "SELECT inet_server_port()";
        Assert.Contains(Convert.ToInt32(await again.ExecuteScalarAsync()), fx.Cluster.Standbys.Select(s => s.Port));
    }

    [Fact]
    public async Task Two_live_commands_on_one_connection_are_distinct_and_never_share_an_npgsql_command()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var a = conn.CreateCommand();
        await using var b = conn.CreateCommand();
        Assert.NotSame(a, b);
        Assert.NotSame(a.InnerCommand, b.InnerCommand);
        a.CommandText = "SELECT 1";
        b.CommandText = "SELECT 2";
        Assert.Equal(1, await a.ExecuteScalarAsync());
        Assert.Equal(2, await b.ExecuteScalarAsync());
        Assert.Equal("SELECT 1", a.CommandText);
    }

    [Fact]
    public async Task Commands_created_and_disposed_in_any_order_never_share_an_npgsql_command_while_alive()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var live = new List<RoutingCommand>();
        var connections = new List<RoutingConnection>();
        var random = new Random(19);
        try
        {
            for (var i = 0; i < 4; i++)
                connections.Add(await ds.OpenConnectionAsync());
            for (var step = 0; step < 400; step++)
            {
                if (live.Count > 0 && random.Next(2) == 0)
                {
                    var gone = live[random.Next(live.Count)];
                    live.Remove(gone);
                    await gone.DisposeAsync();
                }
                else
                {
                    var conn = connections[random.Next(connections.Count)];
                    var cmd = random.Next(3) == 0 ? new RoutingCommand("", conn) : conn.CreateCommand();
                    var withParameter = random.Next(2) == 0;
                    if (withParameter)
                        cmd.Parameters.AddWithValue("p", step);
                    cmd.CommandText = withParameter ? "SELECT @p::int" : "SELECT 7";
                    if (step % 10 == 0)
                        await cmd.ExecuteScalarAsync();
                    Assert.DoesNotContain(live, l => ReferenceEquals(l, cmd));
                    live.Add(cmd);
                }
                var inners = live.Select(l => l.InnerCommand).ToList();
                Assert.Equal(inners.Count, inners.Distinct().Count());
                Assert.All(live, l => Assert.NotEqual("", l.CommandText));
            }
        }
        finally
        {
            foreach (var l in live)
                await l.DisposeAsync();
            foreach (var c in connections)
                await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_disposed_command_is_refused_until_handed_out_again()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1";
        await cmd.ExecuteScalarAsync();
        await cmd.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cmd.ExecuteScalarAsync());
        Assert.Throws<ObjectDisposedException>(() => cmd.ExecuteNonQuery());
        Assert.Throws<ObjectDisposedException>(() => cmd.CommandText = "SELECT 2");
        Assert.Throws<ObjectDisposedException>(() => cmd.Prepare());

        // A command made with its constructor is not cached: disposed, it stays disposed (its Npgsql command recycled).
        var own = new RoutingCommand("SELECT 1", conn);
        await own.DisposeAsync();
        Assert.NotSame(own, conn.CreateCommand());
        Assert.Throws<ObjectDisposedException>(() => own.CommandText = "SELECT 2");
        Assert.Throws<ObjectDisposedException>(() => own.ExecuteScalar());
    }

    [Fact]
    public async Task A_command_with_a_timeout_or_prepared_is_not_reused()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var timed = conn.CreateCommand();
        timed.CommandTimeout = 5;
        timed.CommandText = "SELECT 1";
        await timed.ExecuteScalarAsync();
        await timed.DisposeAsync();
        await using (var next = conn.CreateCommand())
        {
            Assert.NotSame(timed, next);
            Assert.Equal(new NpgsqlCommand().CommandTimeout, next.CommandTimeout);
        }

        var prepared = conn.CreateCommand();
        await conn.CreateCommand().DisposeAsync(); // fills the cache again: take it out below
        prepared.CommandText = "SELECT @x::int";
        prepared.Parameters.AddWithValue("x", 3);
        await prepared.PrepareAsync();
        Assert.Equal(3, await prepared.ExecuteScalarAsync());
        var cached = conn.CreateCommand();
        await prepared.DisposeAsync();
        await using var fresh = conn.CreateCommand();
        Assert.NotSame(prepared, fresh);
        fresh.CommandText = "SELECT 4";
        Assert.Equal(4, await fresh.ExecuteScalarAsync());
        await cached.DisposeAsync();
    }

    [Fact]
    public async Task A_command_disposed_with_its_reader_open_is_not_reused_and_the_reader_still_reads()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT generate_series(1, 3)";
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        await cmd.DisposeAsync();
        await using (var other = conn.CreateCommand())
            Assert.NotSame(cmd, other);
        var sum = reader.GetInt32(0);
        while (await reader.ReadAsync())
            sum += reader.GetInt32(0);
        Assert.Equal(6, sum);
    }

    [Fact]
    public async Task A_command_used_after_its_connection_closed_and_one_created_after_a_dispose_behave_as_before()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        var conn = await ds.OpenConnectionAsync();
        var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1";
        Assert.Equal(1, await cmd.ExecuteScalarAsync());
        await conn.CloseAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => cmd.ExecuteScalarAsync());
        await cmd.DisposeAsync();
        await conn.OpenAsync();
        await using var next = conn.CreateCommand();
        Assert.Same(cmd, next);
        next.CommandText = "SELECT 2";
        Assert.Equal(2, await next.ExecuteScalarAsync());
        await conn.DisposeAsync();
    }

    [Fact]
    public async Task A_statement_allocates_within_5_percent_of_plain_npgsql()
    {
        // Synchronous and without a synchronization context, so that this thread's counter sees the whole statement:
        // open, create the command, SELECT 1, dispose, close, as the overhead benchmark does (there asynchronously).
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.HealthCheckInterval = TimeSpan.FromMinutes(10));
        await using var plain = NpgsqlDataSource.Create(fx.Cluster.Standbys[0].ConnectionString);
        const int n = 1000;
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        long ours, theirs;
        try
        {
            for (var i = 0; i < 300; i++)
            {
                Ours(ds);
                Theirs(plain);
            }
            ours = long.MaxValue;
            theirs = long.MaxValue;
            for (var round = 0; round < 5; round++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < n; i++)
                    Ours(ds);
                ours = Math.Min(ours, GC.GetAllocatedBytesForCurrentThread() - before);
                before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < n; i++)
                    Theirs(plain);
                theirs = Math.Min(theirs, GC.GetAllocatedBytesForCurrentThread() - before);
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
        Assert.True(ours <= theirs * 1.05, $"{ours / n} B per statement against Npgsql's {theirs / n} B");

        static void Ours(PgRoutingDataSource ds)
        {
            using var conn = ds.OpenConnection();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT 1";
            cmd.ExecuteScalar();
        }

        static void Theirs(NpgsqlDataSource ds)
        {
            using var conn = ds.OpenConnection();
            using var cmd = new NpgsqlCommand("SELECT 1", conn);
            cmd.ExecuteScalar();
        }
    }
}
