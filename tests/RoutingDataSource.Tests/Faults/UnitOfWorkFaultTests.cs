using RoutingDataSource.Testing;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Faults;

/// <summary>A unit of work (<see cref="PgRoutingDataSource.ExecuteAsync(Func{RoutingConnection, CancellationToken, Task}, CancellationToken)"/>) whose primary hangs in the middle of it.</summary>
[Collection("faults")]
public sealed class UnitOfWorkFaultTests(FaultClusterFixture fixture)
{
    private LocalPgCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_unit_whose_primary_freezes_mid_transaction_is_rerun_once_the_primary_answers_and_commits_once()
    {
        await Cluster.Primary.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS unit_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
            CREATE TABLE IF NOT EXISTS unit_ledger (transfer uuid PRIMARY KEY);
            INSERT INTO unit_accounts VALUES (1, 100), (2, 100) ON CONFLICT (id) DO UPDATE SET balance = 100;
            """);
        await using var ds = await CreateAsync(Cluster, b =>
        {
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            b.Options.HealthCheckTimeout = TimeSpan.FromMilliseconds(500);
            b.Options.HealthCheckMaxRetries = 1;
            b.Options.FailoverTimeout = TimeSpan.FromSeconds(20);
        });
        var transfer = Guid.NewGuid();
        var attempts = 0;
        var frozen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var unit = ds.ExecuteAsync(async (conn, ct) =>
        {
            var attempt = Interlocked.Increment(ref attempts);
            await NonQueryAsync(conn, "UPDATE unit_accounts SET balance = balance - 10 WHERE id = 1");
            if (attempt == 1)
            {
                await Cluster.Primary.FreezeAsync();
                frozen.SetResult();
            }
            await NonQueryAsync(conn, "UPDATE unit_accounts SET balance = balance + 10 WHERE id = 2");
            await NonQueryAsync(conn, $"INSERT INTO unit_ledger VALUES ('{transfer}')");
        });
        await frozen.Task;
        await Task.Delay(TimeSpan.FromSeconds(3)); // long enough for the monitor to take the primary out of service
        await Cluster.Primary.ThawAsync();
        await unit; // no exception: the first attempt was lost with its transaction, the second one committed

        Assert.Equal(2, attempts);
        Assert.Equal(1L, await Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM unit_ledger WHERE transfer = '{transfer}'"));
        Assert.Equal(90L, await Cluster.Primary.ScalarAsync<long>("SELECT balance FROM unit_accounts WHERE id = 1"));
        Assert.Equal(110L, await Cluster.Primary.ScalarAsync<long>("SELECT balance FROM unit_accounts WHERE id = 2"));
        // The first attempt's transaction does not linger (idle in transaction, holding its row locks).
        for (var i = 0; i < 50 && await IdleInTransactionAsync() > 0; i++)
            await Task.Delay(100);
        Assert.Equal(0L, await IdleInTransactionAsync());
    }

    private Task<long> IdleInTransactionAsync()
        => Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()");
}
