using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RoutingDataSource.Testing;

namespace RoutingDataSource.HealthChecks.Tests;

/// <summary>
/// A service provider wired as an application would be: <c>AddRoutingDataSource</c> over a local cluster (fast health
/// checks), <c>AddHealthChecks().AddRoutingDataSource()</c>, and <see cref="HealthCheckService"/> to ask. Disposing it
/// disposes the data source.
/// </summary>
internal sealed class HealthCheckHost : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private HealthCheckHost(ServiceProvider services) => _services = services;

    public PgRoutingDataSource DataSource => _services.GetRequiredService<PgRoutingDataSource>();

    public static HealthCheckHost Create(LocalPgCluster cluster, Action<PgRoutingDataSourceBuilder>? configure = null,
        Action<IHealthChecksBuilder>? checks = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddRoutingDataSource(b =>
        {
            foreach (var n in cluster.Nodes)
                b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, cluster.Primary) ? 0 : 1);
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            b.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
            b.Options.HealthCheckMaxRetries = 2;
            b.Options.FailoverTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(b);
        });
        var builder = services.AddHealthChecks();
        if (checks is null)
            builder.AddRoutingDataSource(tags: ["ready"], timeout: TimeSpan.FromSeconds(10));
        else
            checks(builder);
        return new HealthCheckHost(services.BuildServiceProvider());
    }

    public Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
        => _services.GetRequiredService<HealthCheckService>().CheckHealthAsync(cancellationToken);

    /// <summary>Checks until <paramref name="entry"/> reports <paramref name="expected"/>; returns that entry, or the last one seen when the token fires.</summary>
    public async Task<HealthReportEntry> WaitForAsync(HealthStatus expected, CancellationToken cancellationToken,
        string entry = RoutingDataSourceHealthChecksBuilderExtensions.DefaultName)
    {
        HealthReportEntry last = default;
        // Bounded by the token; 1,000 rounds of 50 ms is a second bound should a caller pass a token that never fires.
        for (var i = 0; i < 1000 && !cancellationToken.IsCancellationRequested; i++)
        {
            last = (await CheckAsync(cancellationToken))
                .Entries[entry];
            if (last.Status == expected)
                return last;
            try
            {
                await Task.Delay(50, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return last;
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
