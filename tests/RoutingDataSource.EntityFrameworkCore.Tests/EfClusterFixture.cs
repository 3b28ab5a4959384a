using Microsoft.EntityFrameworkCore;
using RoutingDataSource.Testing;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>
/// A 1+2 cluster with the notes schema (and one seed note, so that queries have a row to project server functions
/// on), every statement in the server logs, shared by the tests that do not change its topology.
/// </summary>
public sealed class EfClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    public PgRoutingDataSource DataSource { get; private set; } = null!;

    public int[] StandbyPorts => [.. Cluster.Standbys.Select(s => s.Port)];

    public DbContextOptions<NotesContext> Options { get; private set; } = null!;

    public NotesContext CreateContext() => new(Options);

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var options = new LocalPgClusterOptions { Standbys = 2 };
        options.ExtraSettings.Add("log_statement = 'all'");
        Cluster = await LocalPgCluster.StartAsync(options, cts.Token);
        DataSource = await CreateDataSourceAsync(Cluster, cts.Token);
        Options = new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(DataSource).Options;
        await using (var ctx = CreateContext())
        {
            await ctx.Database.EnsureCreatedAsync(cts.Token);
            ctx.Notes.Add(new Note { Text = "seed" });
            await ctx.SaveChangesAsync(cts.Token);
        }
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

    /// <summary>
    /// Waits until every standby has replayed everything and the data source has seen it (a probe round): then a read
    /// is no longer held on the primary by read-your-writes after a write.
    /// </summary>
    public async Task SettleAsync(CancellationToken cancellationToken)
    {
        await Cluster.WaitForReplicationAsync(cancellationToken: cancellationToken);
        await DataSource.RefreshStatusAsync(cancellationToken);
    }

    /// <summary>Pauses WAL replay on every standby until the result is disposed: a read a standby serves then misses every write since.</summary>
    public async Task<IAsyncDisposable> PauseReplayAsync(CancellationToken cancellationToken)
    {
        foreach (var s in Cluster.Standbys)
            await s.PauseReplayAsync(cancellationToken);
        return new ReplayResumer(Cluster);
    }

    private sealed class ReplayResumer(LocalPgCluster cluster) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var s in cluster.Standbys)
                await s.ResumeReplayAsync(CancellationToken.None);
        }
    }

    /// <summary>The servers whose log holds <paramref name="marker"/>.</summary>
    public string[] NodesThatLogged(string marker)
        => [.. Cluster.Nodes.Where(n => n.ReadLogTail(20_000).Contains(marker, StringComparison.Ordinal)).Select(n => n.Name)];

    public long Reads(string node) => DataSource.GetStatus().Backends.Single(b => b.Name == node).ReadCount;

    public long Writes(string node) => DataSource.GetStatus().Backends.Single(b => b.Name == node).WriteCount;
}

[CollectionDefinition("ef-cluster")]
public sealed class EfClusterCollection : ICollectionFixture<EfClusterFixture>;
