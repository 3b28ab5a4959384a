using Npgsql;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Faults;

/// <summary>
/// A 1+2 cluster for the fault tests: they freeze a standby, and make the primary's commits wait for a synchronous
/// standby that does not exist (<see cref="BlockCommitsAsync"/>), so a commit's synchronous wait can be cut short at will.
/// Each test leaves the cluster as it found it.
/// </summary>
public sealed class FaultClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 });
        await Cluster.Primary.ExecuteAsync("CREATE TABLE acks (id bigint PRIMARY KEY, note text)");
        await Cluster.Primary.ExecuteAsync("CREATE TABLE block_probe (n int)");
        await Cluster.WaitForReplicationAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>
    /// Every commit on the primary from now on waits for a synchronous standby named 'ghost' that never connects; dispose
    /// the result to let them (and every commit still waiting) through.
    /// </summary>
    public async Task<IAsyncDisposable> BlockCommitsAsync()
    {
        await SetSynchronousStandbyNamesAsync("ghost");
        // A session seeing the setting is not enough: a commit waits only once the checkpointer has reread the file
        // too (it publishes whether synchronous standbys are defined), which a loaded machine can delay. Proof that
        // commits block: a probe commit waiting for synchronous replication. It waits until the unblock lets it through.
        var probe = ProbeAsync();
        for (var i = 0; !await ProbeWaitsAsync(); i++)
        {
            if (i == 200 || probe.IsCompleted)
                throw new InvalidOperationException("commits on the primary did not start waiting for synchronous replication");
            await Task.Delay(50);
        }
        return new Unblock(this, probe);
    }

    private const string ProbeApplication = "block-probe";

    private async Task ProbeAsync()
    {
        try
        {
            await using var conn = new NpgsqlConnection(Cluster.Primary.ConnectionStringWith(b =>
            {
                b.Pooling = false;
                b.ApplicationName = ProbeApplication;
                b.CommandTimeout = 0;
            }));
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO block_probe VALUES (1)", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // A test that stops the primary while commits are blocked ends the probe too.
        }
    }

    private async Task<bool> ProbeWaitsAsync()
        => await Cluster.Primary.ScalarAsync<long>(
            $"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name = '{ProbeApplication}'") == 1;

    private async Task SetSynchronousStandbyNamesAsync(string value)
    {
        await Cluster.Primary.ExecuteAsync($"ALTER SYSTEM SET synchronous_standby_names = '{value}'");
        await Cluster.Primary.ExecuteAsync("SELECT pg_reload_conf()");
        // The postmaster's children reread the file when they next look: wait until a new session sees it.
        for (var i = 0; i < 100; i++)
        {
            if (await Cluster.Primary.ScalarAsync<string>("SHOW synchronous_standby_names") == value)
                return;
            await Task.Delay(50);
        }
        throw new InvalidOperationException($"synchronous_standby_names did not become '{value}'");
    }

    /// <summary>How many sessions on the primary wait for synchronous replication right now.</summary>
    public async Task<long> SessionsWaitingForSyncRepAsync()
        => await Cluster.Primary.ScalarAsync<long>(
            $"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND application_name <> '{ProbeApplication}'");

    private sealed class Unblock(FaultClusterFixture fixture, Task probe) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await fixture.SetSynchronousStandbyNamesAsync("");
            await probe.WaitAsync(TimeSpan.FromSeconds(30));
            for (var i = 0; i < 100 && await fixture.SessionsWaitingForSyncRepAsync() > 0; i++)
                await Task.Delay(50);
        }
    }
}

[CollectionDefinition("faults")]
public sealed class FaultCollection : ICollectionFixture<FaultClusterFixture>;
