using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebApiSample;

/// <summary>Writes /health as JSON: the overall status, and per check its status, description and data (the status table).</summary>
internal static class HealthResponse
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
                data = e.Value.Data.Where(d => d.Key != "table").ToDictionary(d => d.Key, d => d.Value),
            }),
        };
        return http.Response.WriteAsync(JsonSerializer.Serialize(body, Options), http.RequestAborted);
    }
}
