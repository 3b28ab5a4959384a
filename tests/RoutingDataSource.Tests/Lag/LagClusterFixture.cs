using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Lag;

/// <summary>A 1+2 cluster for tests that pause replay. The standby n2 streams with a mismatched application_name on purpose.</summary>
public sealed class LagClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var options = new LocalPgClusterOptions { Standbys = 2 };
        Cluster = await LocalPgCluster.StartAsync(options);
        await Cluster.Primary.ExecuteAsync("CREATE TABLE ryw (id bigint PRIMARY KEY, pad text)");
        await Cluster.WaitForReplicationAsync();
    }

    /// <summary>Resumes replay on every standby and waits until they caught up: the next test starts from there, whatever happened.</summary>
    public async Task CatchUpAsync()
    {
        foreach (var standby in Cluster.Standbys)
            await standby.ResumeReplayAsync();
        await Cluster.WaitForReplicationAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
