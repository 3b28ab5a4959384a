using RoutingDataSource.Testing;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>A 1+2 cluster with the notes schema, shared by the tests that do not change its topology.</summary>
public sealed class EfClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    public PgRoutingDataSource DataSource { get; private set; } = null!;

    public RoutingDbContextFactory<NotesContext> Factory { get; private set; } = null!;

    public int[] StandbyPorts => [.. Cluster.Standbys.Select(s => s.Port)];

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cts.Token);
        DataSource = await CreateDataSourceAsync(Cluster, cts.Token);
        Factory = new RoutingDbContextFactory<NotesContext>(DataSource);
        await using (var ctx = await Factory.CreateDbContextAsync(cts.Token))
            await ctx.Database.EnsureCreatedAsync(cts.Token);
        await Cluster.WaitForReplicationAsync(cancellationToken: cts.Token);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Fast health checks, the primary serving no reads, and the first probe round done.</summary>
    public static async Task<PgRoutingDataSource> CreateDataSourceAsync(LocalPgCluster cluster, CancellationToken cancellationToken, int? maxPoolSize = null)
    {
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in cluster.Nodes)
        {
            var cs = maxPoolSize is { } max ? n.ConnectionStringWith(c => c.MaxPoolSize = max) : n.ConnectionString;
            b.AddBackend(n.Name, cs, ReferenceEquals(n, cluster.Primary) ? 0 : 1);
        }
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        b.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
        b.Options.HealthCheckMaxRetries = 2;
        b.Options.FailoverTimeout = TimeSpan.FromSeconds(10);
        var ds = b.Build();
        await ds.RefreshStatusAsync(cancellationToken);
        return ds;
    }
}

[CollectionDefinition("ef-cluster")]
public sealed class EfClusterCollection : ICollectionFixture<EfClusterFixture>;
