using RoutingDataSource.Diagnostics;

// OpenTelemetry's own namespace for TracerProviderBuilder extensions, so they show up without an extra using.
#pragma warning disable IDE0130
namespace OpenTelemetry.Trace;
#pragma warning restore IDE0130

/// <summary>Enables RoutingDataSource's traces on an OpenTelemetry <see cref="TracerProviderBuilder"/>.</summary>
public static class RoutingDataSourceTracerProviderBuilderExtensions
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
}
