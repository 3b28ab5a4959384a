using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

[Collection("ef-cluster")]
public sealed class RoutingDbContextFactoryTests(EfClusterFixture fixture)
{
    private static readonly TimeSpan TestBudget = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Read_only_context_reads_on_a_standby()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var ctx = await fixture.Factory.CreateReadOnlyDbContextAsync(cts.Token);

        Assert.True(await ctx.InRecoveryAsync(cts.Token));
        Assert.Contains(await ctx.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        // LINQ queries run there too, on the same connection for the context's whole life.
        _ = await ctx.Notes.CountAsync(cts.Token);
        Assert.True(await ctx.InRecoveryAsync(cts.Token));
    }

    [Fact]
    public async Task SaveChanges_through_the_read_write_context_lands_on_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"rw-{Guid.NewGuid():N}";
        NpgsqlConnection connection;
        await using (var ctx = await fixture.Factory.CreateDbContextAsync(cts.Token))
        {
            connection = (NpgsqlConnection)ctx.Database.GetDbConnection();
            Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
            Assert.False(await ctx.InRecoveryAsync(cts.Token));
            ctx.Notes.Add(new Note { Text = text });
            Assert.Equal(1, await ctx.SaveChangesAsync(cts.Token));
        }

        // The context owned its connection: disposing it closed the connection (back to the primary's pool).
        Assert.Equal(System.Data.ConnectionState.Closed, connection.State);
        Assert.Equal(1L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" = '{text}'", cts.Token));
    }

    [Fact]
    public async Task Read_only_context_sees_a_write_once_it_is_replicated()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"replicated-{Guid.NewGuid():N}";
        await using (var writer = await fixture.Factory.CreateDbContextAsync(cts.Token))
        {
            writer.Notes.Add(new Note { Text = text });
            await writer.SaveChangesAsync(cts.Token);
        }

        await fixture.Cluster.WaitForReplicationAsync(cancellationToken: cts.Token);
        await using var reader = await fixture.Factory.CreateReadOnlyDbContextAsync(cts.Token);

        Assert.Contains(await reader.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        var note = await reader.Notes.SingleAsync(n => n.Text == text, cts.Token);
        Assert.Equal(text, note.Text);
    }

    [Fact]
    public async Task Read_only_context_does_not_track_and_refuses_SaveChanges()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var before = await fixture.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM \"Notes\"", cts.Token);
        await using var ctx = await fixture.Factory.CreateReadOnlyDbContextAsync(cts.Token);

        Assert.Equal(QueryTrackingBehavior.NoTracking, ctx.ChangeTracker.QueryTrackingBehavior);
        _ = await ctx.Notes.Take(5).ToListAsync(cts.Token);
        Assert.Empty(ctx.ChangeTracker.Entries());

        ctx.Notes.Add(new Note { Text = "never saved" });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ctx.SaveChangesAsync(cts.Token));
        Assert.Contains("read-only", e.Message, StringComparison.Ordinal);
        Assert.Contains("CreateDbContextAsync()", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => ctx.SaveChanges());
        Assert.Equal(before, await fixture.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM \"Notes\"", cts.Token));
    }

    [Fact]
    public async Task Read_only_context_on_the_primary_fallback_still_refuses_writes()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        // Its own data source over the shared cluster: detaching standbys there leaves the fixture's alone.
        await using var ds = await EfClusterFixture.CreateDataSourceAsync(fixture.Cluster, cts.Token);
        ds.DetachBackend("n1");
        ds.DetachBackend("n2");
        await ds.RefreshStatusAsync(cts.Token);
        var factory = new RoutingDbContextFactory<NotesContext>(ds);
        await using var ctx = await factory.CreateReadOnlyDbContextAsync(cts.Token);

        Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token)); // no standby eligible: the primary serves reads
        _ = await ctx.Notes.CountAsync(cts.Token);
        var e = await Assert.ThrowsAsync<PostgresException>(() =>
            ctx.Database.ExecuteSqlAsync($"INSERT INTO \"Notes\" (\"Text\") VALUES ('raw write')", cts.Token));
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, e.SqlState);
    }

    [Fact]
    public async Task Read_only_session_setting_does_not_leak_into_the_primary_pool()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        // One physical connection per server, so the writer below gets the very connection the reader had.
        await using var ds = await EfClusterFixture.CreateDataSourceAsync(fixture.Cluster, cts.Token, maxPoolSize: 1);
        ds.DetachBackend("n1");
        ds.DetachBackend("n2");
        await ds.RefreshStatusAsync(cts.Token);
        var factory = new RoutingDbContextFactory<NotesContext>(ds);
        int readerPid;
        await using (var ro = await factory.CreateReadOnlyDbContextAsync(cts.Token))
        {
            Assert.Equal(fixture.Cluster.Primary.Port, await ro.ServerPortAsync(cts.Token));
            readerPid = await BackendPidAsync(ro, cts.Token);
        }

        // Npgsql reset the session when the reader's context returned the connection to the pool.
        await using var rw = await factory.CreateDbContextAsync(cts.Token);
        Assert.Equal(readerPid, await BackendPidAsync(rw, cts.Token));
        Assert.Equal("off", await rw.Database.SqlQuery<string>($"SELECT current_setting('default_transaction_read_only') AS \"Value\"").SingleAsync(cts.Token));
        rw.Notes.Add(new Note { Text = "after a read-only context" });
        Assert.Equal(1, await rw.SaveChangesAsync(cts.Token));
    }

    [Fact]
    public async Task UseNpgsql_on_the_routing_data_source_routes_queries_but_cannot_save_changes()
    {
        // Why the factory binds contexts to physical connections: this is what the provider does with the routing
        // data source itself. Should a provider version make SaveChanges work, this test says so.
        using var cts = new CancellationTokenSource(TestBudget);
        var options = new DbContextOptionsBuilder<NotesContext>().UseNpgsql(fixture.DataSource).Options;
        await using var ctx = new NotesContext(options);

        Assert.Contains(await ctx.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        ctx.Notes.Add(new Note { Text = "through the routing connection" });
        var e = await Assert.ThrowsAsync<DbUpdateException>(() => ctx.SaveChangesAsync(cts.Token));
        Assert.IsType<InvalidCastException>(e.InnerException);
        Assert.Contains("NpgsqlDataReader", e.InnerException!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DI_registration_builds_contexts_with_services_and_options()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var services = new ServiceCollection();
        services.AddSingleton(fixture.DataSource); // not disposed by the container: the fixture owns it
        services.AddSingleton(new Greeting("hello"));
        var configured = 0;
        services.AddRoutingDbContextFactory<GreetingNotesContext>((sp, b) =>
        {
            Assert.NotNull(sp.GetService<Greeting>());
            Interlocked.Increment(ref configured);
            b.EnableDetailedErrors();
        });
        await using var sp = services.BuildServiceProvider();
        var factory = sp.GetRequiredService<RoutingDbContextFactory<GreetingNotesContext>>();

        await using (var rw = await factory.CreateDbContextAsync(cts.Token))
        {
            Assert.Equal("hello", rw.Greeting.Text);
            Assert.Equal(fixture.Cluster.Primary.Port, await rw.ServerPortAsync(cts.Token));
        }
        await using (var ro = await factory.CreateReadOnlyDbContextAsync(cts.Token))
        {
            Assert.Equal("hello", ro.Greeting.Text);
            Assert.Contains(await ro.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        }
        Assert.Equal(2, configured);
    }

    private static Task<int> BackendPidAsync(DbContext ctx, CancellationToken cancellationToken)
        => ctx.Database.SqlQuery<int>($"SELECT pg_backend_pid() AS \"Value\"").SingleAsync(cancellationToken);

    public sealed record Greeting(string Text);

    public sealed class GreetingNotesContext(DbContextOptions<GreetingNotesContext> options, Greeting greeting) : DbContext(options)
    {
        public Greeting Greeting { get; } = greeting;

        public DbSet<Note> Notes => Set<Note>();
    }
}
