using Microsoft.EntityFrameworkCore;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>A failover in the middle of a unit of work, survived by RoutingExecutionStrategy. Own clusters: they promote.</summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_execution_strategy_runs_the_unit_of_work_again_on_the_new_primary()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var own = await OwnCluster.StartAsync(cts.Token);
        var (cluster, ds, ctx) = (own.Cluster, own.DataSource, own.Context);
        var attempts = await RunTransactionAsync(ctx, async attempt =>
        {
            ctx.Notes.Add(new Note { Text = "first" });
            await ctx.SaveChangesAsync(cts.Token);
            if (attempt == 1)
            {
                // The primary dies with the transaction open, and the standby takes over.
                await cluster.Primary.StopAsync(immediate: true, cts.Token);
                await cluster.Node("n1").PromoteAsync(cts.Token);
            }
            ctx.Notes.Add(new Note { Text = "second" });
            await ctx.SaveChangesAsync(cts.Token);
        }, cts.Token);

        output.WriteLine($"attempts: {attempts}; {ds.GetStatus()}");
        Assert.True(attempts >= 2);
        Assert.Equal(2L, await cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM \"Notes\"", cts.Token));
        Assert.Equal(["first", "second"], await ctx.Notes.OrderBy(n => n.Text).Select(n => n.Text).ToListAsync(cts.Token));
        ctx.Notes.Add(new Note { Text = "after" });
        Assert.Equal(1, await ctx.SaveChangesAsync(cts.Token));
        Assert.Equal(3L, await cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM \"Notes\"", cts.Token));
    }

    [Fact]
    public async Task A_transaction_begun_while_no_primary_is_known_runs_on_the_one_promoted_meanwhile()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var own = await OwnCluster.StartAsync(cts.Token);
        var (cluster, ds, ctx) = (own.Cluster, own.DataSource, own.Context);
        Assert.Equal(0, await ctx.Notes.CountAsync(cts.Token));
        _ = ctx.Database.GetDbConnection(); // the context's own connection: on n0

        await cluster.Primary.StopAsync(immediate: true, cts.Token);
        var status = await ds.RefreshStatusAsync(cts.Token);
        for (var i = 0; i < 10 && status.PrimaryName is not null; i++)
            status = await ds.RefreshStatusAsync(cts.Token); // n0 is declared down after HealthCheckMaxRetries failures
        Assert.Null(status.PrimaryName);
        // The transaction waits for a primary (FailoverTimeout); n1 is promoted meanwhile. The context's connection is
        // still on n0: the first attempt fails before sending anything, the next one runs on n1.
        var promote = Task.Run(async () =>
        {
            await Task.Delay(300, cts.Token);
            await cluster.Node("n1").PromoteAsync(cts.Token);
        }, cts.Token);
        var attempts = await RunTransactionAsync(ctx, async _ =>
        {
            ctx.Notes.Add(new Note { Text = "on the new primary" });
            await ctx.SaveChangesAsync(cts.Token);
        }, cts.Token);
        await promote;

        output.WriteLine($"attempts: {attempts}");
        Assert.Equal(2, attempts);
        Assert.Equal(1L, await cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM \"Notes\"", cts.Token));
    }

    // A 1+1 cluster with the notes schema on both servers (n1 has the table when it takes over), its data source and
    // one context; disposed in reverse.
    private sealed class OwnCluster(LocalPgCluster cluster, PgRoutingDataSource dataSource, NotesContext context) : IAsyncDisposable
    {
        public LocalPgCluster Cluster { get; } = cluster;

        public PgRoutingDataSource DataSource { get; } = dataSource;

        public NotesContext Context { get; } = context;

        public static async Task<OwnCluster> StartAsync(CancellationToken cancellationToken)
        {
            var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, cancellationToken);
            PgRoutingDataSource? ds = null;
            try
            {
                ds = await EfClusterFixture.CreateDataSourceAsync(cluster, cancellationToken);
                var options = new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options;
                await using (var setup = new NotesContext(options))
                    await setup.Database.EnsureCreatedAsync(cancellationToken);
                await cluster.WaitForReplicationAsync(cancellationToken: cancellationToken);
                return new OwnCluster(cluster, ds, new NotesContext(options));
            }
            catch
            {
                if (ds is not null)
                    await ds.DisposeAsync();
                await cluster.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Context.DisposeAsync();
            await DataSource.DisposeAsync();
            await Cluster.DisposeAsync();
        }
    }

    // One transactional unit through the context's execution strategy, safe to run again; returns the attempts made.
    private static async Task<int> RunTransactionAsync(NotesContext ctx, Func<int, Task> work, CancellationToken cancellationToken)
    {
        var attempts = 0;
        await ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            attempts++;
            ctx.ChangeTracker.Clear();
            await using var tx = await ctx.Database.BeginTransactionAsync(cancellationToken);
            await work(attempts);
            await tx.CommitAsync(cancellationToken);
        });
        return attempts;
    }
}
