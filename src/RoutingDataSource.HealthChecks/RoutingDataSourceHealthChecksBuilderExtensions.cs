using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RoutingDataSource;
using RoutingDataSource.HealthChecks;

// The conventional namespace for IHealthChecksBuilder extensions, so they show up without an extra using.
#pragma warning disable IDE0130
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Registers <see cref="RoutingDataSourceHealthCheck"/> with a health checks builder.</summary>
public static class RoutingDataSourceHealthChecksBuilderExtensions
{
    /// <summary>The registration name used when none is given.</summary>
    public const string DefaultName = "routing-datasource";

    /// <summary>
    /// Adds a health check over the <see cref="PgRoutingDataSource"/> registered in the container
    /// (<c>services.AddRoutingDataSource(...)</c>), or over the keyed one (<c>services.AddRoutingDataSource(serviceKey, ...)</c>)
    /// when <paramref name="serviceKey"/> is given.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The registration name; default <see cref="DefaultName"/>, or <c>routing-datasource-{serviceKey}</c> for a keyed data source.</param>
    /// <param name="failureStatus">What to report when there is no writable primary; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready").</param>
    /// <param name="timeout">How long the check may take; it only waits on the data source's first health-check round.</param>
    /// <param name="serviceKey">The key the data source was registered with; null for the unkeyed one.</param>
    public static IHealthChecksBuilder AddRoutingDataSource(this IHealthChecksBuilder builder, string? name = null,
        HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null, object? serviceKey = null)
        => serviceKey is null
            ? builder.AddRoutingDataSource(static sp => sp.GetRequiredService<PgRoutingDataSource>(), name, failureStatus, tags, timeout)
            : builder.AddRoutingDataSource(sp => sp.GetRequiredKeyedService<PgRoutingDataSource>(serviceKey),
                name ?? $"{DefaultName}-{Convert.ToString(serviceKey, CultureInfo.InvariantCulture)}", failureStatus, tags, timeout);

    /// <summary>
    /// Adds a health check over the <see cref="PgRoutingDataSource"/> that <paramref name="dataSourceFactory"/> returns
    /// (for an application with several data sources, or one that is not registered as a service).
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="dataSourceFactory">Returns the data source to check; called at each check, it should return a singleton.</param>
    /// <param name="name">The registration name; default <see cref="DefaultName"/>.</param>
    /// <param name="failureStatus">What to report when there is no writable primary; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready").</param>
    /// <param name="timeout">How long the check may take; it only waits on the data source's first health-check round.</param>
    public static IHealthChecksBuilder AddRoutingDataSource(this IHealthChecksBuilder builder, Func<IServiceProvider, PgRoutingDataSource> dataSourceFactory,
        string? name = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSourceFactory);
        return builder.Add(new HealthCheckRegistration(
            name ?? DefaultName,
            sp => new RoutingDataSourceHealthCheck(dataSourceFactory(sp)),
            failureStatus,
            tags,
            timeout));
    }
}
