using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RoutingDataSource.HealthChecks;

/// <summary>
/// Writes a <see cref="HealthReport"/> as JSON, with each check's <see cref="HealthReportEntry.Data"/>, so that
/// <c>/health</c> shows the cluster and not only <c>Healthy</c>:
/// <c>app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = RoutingHealthResponseWriter.WriteAsync })</c>.
/// </summary>
/// <remarks>
/// The body is <c>{"status", "totalDurationMs", "checks": {NAME: {"status", "description", "durationMs", "tags", "error", "data"}}}</c>,
/// camelCase, with nulls written. A routing check's <c>data</c> carries <c>primary</c>, <c>timeline</c>,
/// <c>problem</c>, <c>observedAt</c> and <c>backends</c>, whose <c>name</c>, <c>host</c>, <c>port</c>, <c>role</c>,
/// <c>state</c>, <c>timeline</c> and <c>lagBytes</c> read as the coordinator's <c>GET /cluster</c> members do. The
/// <c>table</c> entry (the text table, for people) is left out; <c>error</c> is the exception's message, never its stack.
/// </remarks>
public static class RoutingHealthResponseWriter
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes <paramref name="report"/> to <paramref name="context"/>'s response as <c>application/json</c>.</summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, Body(report), Options, context.RequestAborted);
    }

    internal static Dictionary<string, object?> Body(HealthReport report)
    {
        var checks = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, entry) in report.Entries)
        {
            checks[name] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["status"] = entry.Status.ToString(),
                ["description"] = entry.Description,
                ["durationMs"] = entry.Duration.TotalMilliseconds,
                ["tags"] = entry.Tags,
                ["error"] = entry.Exception?.Message,
                ["data"] = entry.Data.Where(d => d.Key != "table").ToDictionary(d => d.Key, d => d.Value, StringComparer.Ordinal),
            };
        }
        return new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["status"] = report.Status.ToString(),
            ["totalDurationMs"] = report.TotalDuration.TotalMilliseconds,
            ["checks"] = checks,
        };
    }
}
