using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Configuration;
using RoutingDataSource.Coordinator.Http;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>
/// A running node agent: its HTTP API on loopback. Every request needs <c>Authorization: Bearer</c> with the agent
/// token. <c>GET /local</c>: the server's local facts. <c>POST /orders</c>: one <see cref="AgentOrder"/>, answered
/// when it is done with its <see cref="AgentOrderResult"/> (the steps it took); 403 for another member's order,
/// 409 for a stale fencing token or while another order runs. <c>GET /orders/last</c>: the last result.
/// </summary>
internal sealed class AgentHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();

    private AgentHost(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    public static async Task<AgentHost> StartAsync(AgentOptions options, string token, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        ListenAddress.TryParse(options.Listen, out var listen, out _);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "routing-coordinator-agent", ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(listen.Address, listen.Port);
        });
        var app = builder.Build();
        var host = new AgentHost(app);
        var logger = loggerFactory.CreateLogger("RoutingDataSource.Coordinator.Agent");
        var server = new LocalServer(options);
        var terms = new TermStore(options.TermFilePath);
        var runner = new OrderRunner(options, server, terms, logger, TimeProvider.System);
        AgentOrderResult? last = null;
        var expected = Encoding.UTF8.GetBytes(token);

        app.MapGet("/local", async (HttpContext context) =>
            Unauthorized(context, expected) ?? Results.Json(await runner.FactsAsync(context.RequestAborted).ConfigureAwait(false), Json.Options));

        app.MapGet("/orders/last", (HttpContext context) =>
            Unauthorized(context, expected) ?? (last is null ? Error(404, "no order yet") : Results.Json(last, Json.Options)));

        app.MapPost("/orders", async (HttpContext context) =>
        {
            if (Unauthorized(context, expected) is { } denied)
                return denied;
            AgentOrder? order;
            try
            {
                order = await JsonSerializer.DeserializeAsync<AgentOrder>(context.Request.Body, Json.Options, context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return Error(400, "the body must be an order: " + e.Message);
            }
            if (order is null || order.Member is null || order.Leader is null)
                return Error(400, "the body must be an order {\"member\", \"kind\", \"term\", \"leader\", ...}");
            // Not RequestAborted: a coordinator that goes away must not leave a rewind half done.
            var (result, refusal) = await runner.RunAsync(order, host._stop.Token).ConfigureAwait(false);
            if (refusal is not null)
            {
                AgentLog.Refused(logger, $"{order.Kind} from {order.Leader} (term {order.Term}): {refusal.Why}");
                return Error(refusal.Status, refusal.Why);
            }
            if (result!.Kind != AgentOrderKind.Announce)
                last = result; // the last order that did something to the server
            return Results.Json(result, Json.Options);
        });

        await app.StartAsync(ct).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        host.Address = new Uri(bound ?? $"http://{listen}");
        server.KeepConfigurationCopy();
        AgentLog.Started(logger, options.Name, host.Address, server.DataDirectory, options.BinDirectory, terms.Highest);
        return host;
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    private static IResult? Unauthorized(HttpContext context, byte[] expected)
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), expected))
            return null;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Error(401, "the agent needs Authorization: Bearer <agent token>");
    }

    private static IResult Error(int status, string message) => Results.Json(new ErrorResponse(message), Json.Options, statusCode: status);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
