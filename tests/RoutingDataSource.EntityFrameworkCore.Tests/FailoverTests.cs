using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>What EF Core's own retry does, and does not do, when the primary fails over. Own cluster: it promotes.</summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Retry_on_failure_stays_on_the_server_the_context_is_bound_to_and_a_new_context_follows_the_failover()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, cts.Token);
        await using var ds = await EfClusterFixture.CreateDataSourceAsync(cluster, cts.Token);
        var factory = new RoutingDbContextFactory<NotesContext>(ds,
            npgsqlOptions: o => o.EnableRetryOnFailure(maxRetryCount: 3, maxRetryDelay: TimeSpan.FromMilliseconds(200), errorCodesToAdd: null));
        await using (var setup = await factory.CreateDbContextAsync(cts.Token))
            await setup.Database.EnsureCreatedAsync(cts.Token);

        await using var before = await factory.CreateDbContextAsync(cts.Token);
        var oldPrimary = (NpgsqlConnection)before.Database.GetDbConnection();
        before.Notes.Add(new Note { Text = "before" });
        await before.SaveChangesAsync(cts.Token);

        await cluster.Primary.StopAsync(immediate: true, cts.Token);
        await cluster.Node("n1").PromoteAsync(cts.Token);

        // EF retries on the same DbContext, hence the same physical connection to the old primary: every retry fails.
        before.Notes.Add(new Note { Text = "lost" });
        var e = await Assert.ThrowsAsync<RetryLimitExceededException>(() => before.SaveChangesAsync(cts.Token));
        output.WriteLine($"{e.Message} -> {e.InnerException?.GetType().Name}: {e.InnerException?.Message}");
        Assert.Equal(cluster.Primary.Port, new NpgsqlConnectionStringBuilder(oldPrimary.ConnectionString).Port);
        Assert.Contains($":{cluster.Primary.Port}", e.InnerException!.Message, StringComparison.Ordinal); // "Failed to connect to 127.0.0.1:<old primary>"

        // A context created now is bound to the new primary (the factory waits for the monitor to see it).
        await using var after = await factory.CreateDbContextAsync(cts.Token);
        Assert.Equal(cluster.Node("n1").Port, await after.ServerPortAsync(cts.Token));
        after.Notes.Add(new Note { Text = "after" });
        Assert.Equal(1, await after.SaveChangesAsync(cts.Token));
        Assert.Equal(["after", "before"], await after.Notes.OrderBy(n => n.Text).Select(n => n.Text).ToListAsync(cts.Token));
    }
}
