using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RoutingDataSource.Diagnostics;

// One class for both builders, in OpenTelemetry's root namespace (as its Sdk and processors are): `using OpenTelemetry;`.
#pragma warning disable IDE0130
namespace OpenTelemetry;
#pragma warning restore IDE0130

/// <summary>Enables RoutingDataSource's traces and metrics on OpenTelemetry's provider builders, as Npgsql.OpenTelemetry does for Npgsql.</summary>
public static class RoutingDataSourceInstrumentationExtensions
{
    /// <summary>
    /// Subscribes to the <c>RoutingDataSource</c> activity source: one <c>route</c> activity per statement attempt,
    /// tagged with the backend, its role, the statement's kind and the routing reason. Npgsql's own activity (add it
    /// with Npgsql.OpenTelemetry's <c>AddNpgsql()</c>) is its child. In a web app add the ASP.NET Core instrumentation
    /// too (<c>AddAspNetCoreInstrumentation()</c>): ASP.NET Core starts an activity for every request even when nothing
    /// records it, and the default parent-based sampler drops every statement under such an unrecorded parent.
    /// </summary>
    public static TracerProviderBuilder AddRoutingDataSourceInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(RoutingActivity.SourceName);
    }

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
