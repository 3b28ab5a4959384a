using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Http;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>The CLI's client of a running coordinator's HTTP API.</summary>
internal sealed class ApiClient(Uri baseAddress, string? token) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };

    public Uri BaseAddress => baseAddress;

    public async Task<ClusterView> GetClusterAsync(CancellationToken ct)
    {
        using var response = await _http.GetAsync(new Uri("cluster", UriKind.Relative), ct).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ClusterView>(Json.Options, ct).ConfigureAwait(false))!;
    }

    /// <summary>POSTs and returns the status code and the body text (a JSON value or error).</summary>
    public async Task<(int Status, string Body)> PostAsync(string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative));
        // Always JSON, {} when there is nothing to say: the API refuses a POST of any other content type.
        request.Content = JsonContent.Create(body ?? new { }, options: Json.Options);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
    }

    /// <summary>The "error" of a JSON error body, else the body itself.</summary>
    public static string ErrorOf(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e))
                return e.GetString() ?? body;
        }
        catch (JsonException)
        {
        }
        return body;
    }

    public void Dispose() => _http.Dispose();
}
