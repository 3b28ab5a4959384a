using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Http;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>What an agent answered to an order: its result, or the status and error of a refusal.</summary>
internal sealed record AgentAnswer(AgentOrderResult? Result, int Status, string? Error);

/// <summary>The coordinator's client of one member's node agent (<see cref="AgentHost"/>), with the agent token.</summary>
internal sealed class AgentClient : IDisposable
{
    // A rebuild of a large server takes long; the agent bounds every order itself (its OrderTimeout).
    private static readonly TimeSpan OrderWait = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan FactsWait = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;

    public AgentClient(Uri address, string token)
    {
        _http = new HttpClient { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Uri Address => _http.BaseAddress!;

    public async Task<LocalFacts> FactsAsync(CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(FactsWait);
        using var response = await _http.GetAsync(new Uri("local", UriKind.Relative), bound.Token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"agent at {Address} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(bound.Token).ConfigureAwait(false)}");
        return (await response.Content.ReadFromJsonAsync<LocalFacts>(Json.Options, bound.Token).ConfigureAwait(false))!;
    }

    public async Task<AgentAnswer> OrderAsync(AgentOrder order, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(OrderWait);
        using var response = await _http.PostAsJsonAsync(new Uri("orders", UriKind.Relative), order, Json.Options, bound.Token).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(bound.Token).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
            return new AgentAnswer(JsonSerializer.Deserialize<AgentOrderResult>(body, Json.Options), (int)response.StatusCode, null);
        return new AgentAnswer(null, (int)response.StatusCode, Cli.ApiClient.ErrorOf(body));
    }

    public void Dispose() => _http.Dispose();
}
