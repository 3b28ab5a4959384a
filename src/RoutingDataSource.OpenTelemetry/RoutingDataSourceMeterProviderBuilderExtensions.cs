using RoutingDataSource.Diagnostics;

// OpenTelemetry's own namespace for MeterProviderBuilder extensions, so they show up without an extra using.
#pragma warning disable IDE0130
namespace OpenTelemetry.Metrics;
#pragma warning restore IDE0130

/// <summary>Enables RoutingDataSource's metrics on an OpenTelemetry <see cref="MeterProviderBuilder"/>.</summary>
public static class RoutingDataSourceMeterProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes to the <c>RoutingDataSource</c> meter: <c>routing.statements</c>, <c>routing.reroutes</c>,
    /// <c>routing.retries</c>, <c>routing.retry.outcomes</c>, <c>routing.failovers</c>, <c>routing.decision.duration</c>,
    /// <c>routing.backend.up</c> and the replication lag gauges (README, "Metrics and tracing").
    /// </summary>
    public static MeterProviderBuilder AddRoutingDataSourceInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(RoutingMetrics.MeterName);
    }
}
