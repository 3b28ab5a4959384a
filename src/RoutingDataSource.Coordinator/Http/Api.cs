using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Http;

/// <summary>
/// The HTTP API, Patroni-compatible where it makes sense so that HAProxy and load balancer checks work:
/// <c>GET /primary</c> and <c>GET /replica?name=</c> answer 200 or 503 by role; <c>GET /cluster</c> is the whole view.
/// Mutating endpoints (<c>POST</c>) need <c>Content-Type: application/json</c> (a browser page cannot send that
/// cross-origin without a preflight that this API never grants), a loopback <c>Host</c> header when the API listens on
/// loopback (a DNS-rebound name is refused), and the bearer token when one is configured. Errors are JSON
/// <c>{"error": "..."}</c>.
/// </summary>
internal static class Api
{
    private static readonly string[] CheckMethods = ["GET", "HEAD", "OPTIONS"];

    public static void Map(IEndpointRouteBuilder app, FailoverCoordinator coordinator, string? token, bool loopback, Func<string> http,
        LeaderForwarding? forwarding, PrometheusMetrics metrics)
    {
        app.MapGet("/cluster", () => Results.Json(WithLeadership(coordinator, http()), Json.Options));

        // Starting, or (HA mode) etcd unusable: 503 with the reason, since then nobody can fail over.
        app.MapMethods("/health", CheckMethods, () =>
        {
            var view = WithLeadership(coordinator, http());
            var problem = coordinator.Ha?.EtcdProblem;
            var status = view.Rounds == 0 ? "starting" : problem is null ? "ok" : "etcd-unavailable";
            return Results.Json(
                new { status, rounds = view.Rounds, primary = view.Primary, leader = view.Leader, reason = problem is null ? null : $"{problem}; nobody promotes until etcd answers (the data sources route on their own probes)" },
                Json.Options, statusCode: status == "ok" ? 200 : 503);
        });

        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"));

        app.MapMethods("/primary", CheckMethods, (HttpRequest request) =>
        {
            var view = coordinator.View;
            var name = request.Query["name"].ToString();
            if (name.Length > 0 && view.Find(name) is null)
                return Error(StatusCodes.Status400BadRequest, $"no member named '{name}'");
            if (view.Primary is not { } primary || view.Find(primary) is not { } p)
                return Error(StatusCodes.Status503ServiceUnavailable, "no primary");
            if (name.Length > 0 && name != primary)
                return Error(StatusCodes.Status503ServiceUnavailable, $"{name} is not the primary ({primary} is)");
            return Results.Json(new { name = p.Name, host = p.Host, port = p.Port, timeline = p.Timeline }, Json.Options);
        });

        app.MapMethods("/replica", CheckMethods, (HttpRequest request) =>
        {
            var name = request.Query["name"].ToString();
            if (name.Length == 0)
                return Error(StatusCodes.Status400BadRequest, "name is required: /replica?name=NAME[&lag=BYTES]");
            long? maxLag = null;
            var lagText = request.Query["lag"].ToString();
            if (lagText.Length > 0)
            {
                if (!long.TryParse(lagText, NumberStyles.None, CultureInfo.InvariantCulture, out var lag))
                    return Error(StatusCodes.Status400BadRequest, $"lag must be a number of bytes, not '{lagText}'");
                maxLag = lag;
            }
            var view = coordinator.View;
            if (view.Find(name) is not { } m)
                return Error(StatusCodes.Status400BadRequest, $"no member named '{name}'");
            var why = m.Role != MemberRole.Standby ? $"{name} is not a standby ({FailoverCoordinator.NameOf(m.Role)})"
                : m.State != MemberState.Up ? $"{name} is {FailoverCoordinator.NameOf(m.State)}"
                : m.Timeline is { } tl && tl < view.Timeline ? $"{name} is on timeline {tl}, the primary on {view.Timeline}"
                : maxLag is { } max && (m.LagBytes is not { } lb || lb > max) ? $"{name} lags {m.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "an unknown number of"} bytes (limit {max})"
                : null;
            return why is null
                ? Results.Json(new { name = m.Name, host = m.Host, port = m.Port, lagBytes = m.LagBytes }, Json.Options)
                : Error(StatusCodes.Status503ServiceUnavailable, why);
        });

        app.MapPost("/failover", async (HttpContext context) =>
        {
            if (Refused(context, token, loopback) is { } denied)
                return denied;
            if (forwarding is not null && await forwarding.ForwardAsync(context).ConfigureAwait(false) is { } forwarded)
                return forwarded;
            var (body, bad) = await ReadFailoverRequestAsync(context, "{\"candidate\": \"NAME\", \"force\": false}").ConfigureAwait(false);
            if (bad is not null)
                return bad;
            var candidate = body!.Candidate!;
            // Not RequestAborted: a client that goes away must not cancel a promotion midway. The coordinator bounds
            // the operation and runs it on its own stop token.
            return ToResult(await coordinator.FailoverToAsync(candidate, body.Force).ConfigureAwait(false));
        });

        app.MapPost("/switchover", async (HttpContext context) =>
        {
            if (Refused(context, token, loopback) is { } denied)
                return denied;
            if (forwarding is not null && await forwarding.ForwardAsync(context).ConfigureAwait(false) is { } forwarded)
                return forwarded;
            var (body, bad) = await ReadFailoverRequestAsync(context, "{\"candidate\": \"NAME\"}").ConfigureAwait(false);
            if (bad is not null)
                return bad;
            var candidate = body!.Candidate!;
            return ToResult(await coordinator.SwitchoverToAsync(candidate).ConfigureAwait(false));
        });

        app.MapPost("/members/{name}/detach", async (HttpContext context, string name) =>
            Refused(context, token, loopback)
            ?? (forwarding is null ? null : await forwarding.ForwardAsync(context).ConfigureAwait(false))
            ?? ToResult(await coordinator.DetachAsync(name).ConfigureAwait(false)));

        app.MapPost("/members/{name}/recover", async (HttpContext context, string name) =>
            Refused(context, token, loopback)
            ?? (forwarding is null ? null : await forwarding.ForwardAsync(context).ConfigureAwait(false))
            ?? ToResult(await coordinator.RecoverAsync(name).ConfigureAwait(false)));

        app.MapPost("/members/{name}/attach", async (HttpContext context, string name) =>
            Refused(context, token, loopback)
            ?? (forwarding is null ? null : await forwarding.ForwardAsync(context).ConfigureAwait(false))
            ?? ToResult(await coordinator.AttachAsync(name).ConfigureAwait(false)));
    }

    /// <summary>The body of <c>POST /failover</c> or <c>/switchover</c>, or the 400 to answer (it must name a candidate).</summary>
    private static async Task<(FailoverRequest? Body, IResult? Bad)> ReadFailoverRequestAsync(HttpContext context, string shape)
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<FailoverRequest>(context.Request.Body, Json.Options, context.RequestAborted).ConfigureAwait(false);
            return body?.Candidate is { Length: > 0 } ? (body, null) : (null, Error(StatusCodes.Status400BadRequest, $"the body must be JSON {shape}"));
        }
        catch (JsonException e)
        {
            return (null, Error(StatusCodes.Status400BadRequest, $"the body must be JSON {shape}: {e.Message}"));
        }
    }

    /// <summary>
    /// The view with <c>leader</c> and <c>coordinators</c>: in HA mode as etcd last said (who leads, who runs), alone
    /// this coordinator itself, always the one that decides.
    /// </summary>
    internal static ClusterView WithLeadership(FailoverCoordinator coordinator, string http)
    {
        var view = coordinator.View;
        if (coordinator.Ha is not { } ha)
            return view with { Leader = coordinator.Name, Coordinators = [new Ha.CoordinatorInfo(coordinator.Name, http, true)] };
        return view with { Leader = ha.Leader, Coordinators = ha.Coordinators, Ha = ha.Status };
    }

    /// <summary>Why a <c>POST</c> is refused before it is looked at: its Host header, its token, its content type; null when it is not.</summary>
    private static IResult? Refused(HttpContext context, string? token, bool loopback)
    {
        if (loopback && !IsLoopbackName(context.Request.Host.Host))
            return Error(StatusCodes.Status400BadRequest, $"Host '{context.Request.Host}' is not a loopback name: this API listens on loopback only");
        if (Unauthorized(context, token) is { } denied)
            return denied;
        if (!context.Request.HasJsonContentType())
            return Error(StatusCodes.Status415UnsupportedMediaType, "POST needs Content-Type: application/json (an empty object {} when there is nothing to say)");
        return null;
    }

    private static bool IsLoopbackName(string host)
    {
        host = host.TrimStart('[').TrimEnd(']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    private static IResult? Unauthorized(HttpContext context, string? token)
    {
        if (token is null)
            return null;
        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), Encoding.UTF8.GetBytes(token)))
            return null;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Error(StatusCodes.Status401Unauthorized, "this endpoint needs Authorization: Bearer <ApiToken>");
    }

    private static IResult ToResult(Outcome outcome) => outcome.Kind switch
    {
        OutcomeKind.Ok => Results.Json(outcome.Value, Json.Options),
        OutcomeKind.BadRequest => Error(StatusCodes.Status400BadRequest, outcome.Error!),
        OutcomeKind.NotFound => Error(StatusCodes.Status404NotFound, outcome.Error!),
        OutcomeKind.Conflict => Error(StatusCodes.Status409Conflict, outcome.Error!),
        _ => Error(StatusCodes.Status500InternalServerError, outcome.Error!),
    };

    private static IResult Error(int status, string message) => Results.Json(new ErrorResponse(message), Json.Options, statusCode: status);
}
