using System.Net.Http;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Http;

/// <summary>
/// In HA mode a <c>POST</c> is carried out by the leader: a follower forwards it (same path, body, content type and
/// Authorization header) to the leader's registered HTTP address and answers with the leader's status and body, so
/// that a client may talk to any coordinator. Forwarded once at most (a follower receiving a forwarded request, or
/// finding no leader, answers 503).
/// </summary>
internal sealed class LeaderForwarding(HaCoordination ha) : IDisposable
{
    public const string Header = "X-Routing-Forwarded-By";

    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>The leader's answer, or null when this coordinator leads (carry the request out here).</summary>
    public async Task<IResult?> ForwardAsync(HttpContext context)
    {
        if (ha.IsLeader)
            return null;
        if (context.Request.Headers.ContainsKey(Header))
            return Unavailable($"forwarded by {context.Request.Headers[Header]}, but {ha.Name} does not lead (leader: {ha.Leader ?? "none"})");
        if (ha.Leader is not { } leader || ha.Coordinators.FirstOrDefault(c => c.Name == leader)?.Http is not { Length: > 0 } http)
            return Unavailable(ha.EtcdProblem is { } problem ? $"no coordinator leads: {problem}" : "no coordinator leads right now; try again in a lease TTL");

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        var target = new Uri($"http://{http}{context.Request.Path}{context.Request.QueryString}");
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new ByteArrayContent(body.ToArray()) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(context.Request.ContentType ?? "application/json");
        if (context.Request.Headers.Authorization.ToString() is { Length: > 0 } authorization)
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        request.Headers.Add(Header, ha.Name);
        try
        {
            // Not RequestAborted: the leader carries the operation out anyway; only the answer would be lost.
            using var response = await _client.SendAsync(request, CancellationToken.None).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(CancellationToken.None).ConfigureAwait(false);
            context.Response.Headers["X-Routing-Leader"] = leader;
            return Results.Content(text, "application/json", statusCode: (int)response.StatusCode);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return Unavailable($"the leader {leader} ({http}) did not answer: {e.Message}");
        }
    }

    public void Dispose() => _client.Dispose();

    private static IResult Unavailable(string message) =>
        Results.Json(new Cluster.ErrorResponse(message), Json.Options, statusCode: StatusCodes.Status503ServiceUnavailable);
}
