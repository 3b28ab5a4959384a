namespace RoutingDataSource.Testing.Internal;

/// <summary>etcd's own HTTP endpoints on a member's client port, asked directly (no proxy), each call bounded to one second.</summary>
internal static class EtcdHealth
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
    {
        Timeout = TimeSpan.FromSeconds(1),
    };

    /// <summary>Whether the member serves HTTP at all (<c>/version</c>), quorum or not.</summary>
    public static async Task<bool> AnswersAsync(string endpoint, CancellationToken cancellationToken)
    {
        using var response = await Http.GetAsync(new Uri(endpoint + "/version"), cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    /// <summary>Whether the member has a leader and can serve a linearizable request (<c>/health</c> says <c>"health":"true"</c>).</summary>
    public static async Task<bool> IsHealthyAsync(string endpoint, CancellationToken cancellationToken)
    {
        using var response = await Http.GetAsync(new Uri(endpoint + "/health"), cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode && body.Contains("\"health\":\"true\"", StringComparison.Ordinal);
    }
}
