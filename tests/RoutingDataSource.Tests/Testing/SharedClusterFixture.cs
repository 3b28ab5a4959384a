using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Testing;

/// <summary>One primary with two standbys for the harness tests that leave the cluster as they found it.</summary>
public sealed class SharedClusterFixture : IAsyncLifetime
{
    private LocalPgCluster? _cluster;

    public LocalPgCluster Cluster => _cluster ?? throw new InvalidOperationException("The fixture is not initialised.");

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, timeout.Token);
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedClusterCollection : ICollectionFixture<SharedClusterFixture>
{
    public const string Name = "Testing: shared 1+2 cluster";
}
