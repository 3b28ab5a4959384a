using RoutingDataSource.Testing;

namespace RoutingDataSource.Tests.Infrastructure;

/// <summary>
/// One 1+2 cluster shared by every test that does not change its topology (collection "cluster"). Tests that stop,
/// freeze or promote servers start their own cluster instead.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 });
        await Cluster.Primary.ExecuteAsync("""
            CREATE TABLE items (id bigserial PRIMARY KEY, owner text NOT NULL DEFAULT '', v text);
            CREATE FUNCTION stable_answer() RETURNS int LANGUAGE sql STABLE AS 'SELECT 42';
            CREATE FUNCTION volatile_answer() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 42';
            CREATE FUNCTION sneaky_insert(t text) RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO items(owner, v) VALUES (''sneaky'', t) RETURNING 1';
            """);
        await Cluster.WaitForReplicationAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>A data source over the shared cluster: by default reads only on standbys (primary weight 0).</summary>
    public Task<PgRoutingDataSource> CreateDataSourceAsync(Action<PgRoutingDataSourceBuilder>? configure = null, int primaryWeight = 0)
        => TestDataSources.CreateAsync(Cluster, configure, primaryWeight);
}

[CollectionDefinition("cluster")]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>;
