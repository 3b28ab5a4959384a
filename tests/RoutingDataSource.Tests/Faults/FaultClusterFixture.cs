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
        return new Unblock(this);
    }

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
        => await Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");

    private sealed class Unblock(FaultClusterFixture fixture) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await fixture.SetSynchronousStandbyNamesAsync("");
            for (var i = 0; i < 100 && await fixture.SessionsWaitingForSyncRepAsync() > 0; i++)
                await Task.Delay(50);
        }
    }
}

[CollectionDefinition("faults")]
public sealed class FaultCollection : ICollectionFixture<FaultClusterFixture>;
