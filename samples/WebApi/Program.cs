using System.Text.Json.Serialization;
using Dapper;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using RoutingDataSource;
using RoutingDataSource.HealthChecks;
using WebApiSample;

// Run it against your cluster (appsettings.json, or environment overrides of the connection strings):
//   RoutingDataSource__Backends__0__ConnectionString="Host=127.0.0.1;Port=5432;Username=postgres;Database=postgres" \
//   dotnet run --project samples/WebApi -- --urls http://127.0.0.1:5080
// then: curl 127.0.0.1:5080/health, /status, /status.txt; curl -d '{"name":"kettle"}' -H 'Content-Type: application/json' 127.0.0.1:5080/items
var builder = WebApplication.CreateBuilder(args);

// The cluster comes from appsettings.json (section "RoutingDataSource"); environment variables override it, e.g.
// RoutingDataSource__Backends__0__ConnectionString="Host=...;Port=...". Validated when the host starts.
builder.Services.AddRoutingDataSource(builder.Configuration.GetSection("RoutingDataSource"));
builder.Services.AddHealthChecks().AddRoutingDataSource(tags: ["ready"]);
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
// A RoutingException (no primary during a failover, ...) becomes a 503 ProblemDetails with Retry-After, not a 500.
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<RoutingProblems>();

var app = builder.Build();
app.UseExceptionHandler();
var dataSource = app.Services.GetRequiredService<PgRoutingDataSource>();

// DDL is a write: it goes to the primary (and waits up to FailoverTimeout for one).
await using (var conn = await dataSource.OpenConnectionAsync())
    await conn.ExecuteAsync("CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())");

// Healthy: primary and every standby serving reads (200). Degraded: a standby down or lagging, reads may fall back to
// the primary (200). Unhealthy: no writable primary (503).
app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = RoutingHealthResponseWriter.WriteAsync });

app.MapGet("/status", (PgRoutingDataSource ds) => Results.Ok(ds.GetStatus()));
app.MapGet("/status.txt", (PgRoutingDataSource ds) => Results.Text(ds.GetStatus().ToString()));

// A write: INSERT goes to the primary. The causality token lets the client's next read see it, on any instance.
app.MapPost("/items", async (NewItem item, PgRoutingDataSource ds, HttpResponse response, CancellationToken ct) =>
{
    if (string.IsNullOrWhiteSpace(item.Name))
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["name"] = ["required"] });
    await using var conn = await ds.OpenConnectionAsync(ct);
    var id = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
        "INSERT INTO items (name) VALUES (@Name) RETURNING id", item, cancellationToken: ct));
    CausalityTokens.Send(response, await conn.GetCausalityTokenAsync(ct));
    return Results.Created($"/items/{id}", new Item(id, item.Name, ds.GetStatus().PrimaryName));
});

// A read: goes to a standby, unless the request carries a token the standbys have not replayed yet (then the primary).
app.MapGet("/items/{id:long}", async (long id, PgRoutingDataSource ds, HttpRequest request, CancellationToken ct) =>
{
    var token = CausalityTokens.Received(request);
    RoutingConnection conn;
    try
    {
        conn = token is null ? await ds.OpenConnectionAsync(ct) : await ds.OpenConnectionAsync(token, ct);
    }
    catch (ArgumentException)
    {
        return Results.BadRequest($"{CausalityTokens.Header} is not a causality token.");
    }
    await using (conn)
    {
        var row = await conn.QuerySingleOrDefaultAsync<ItemRow>(new CommandDefinition(
            """SELECT id, name, inet_server_port() AS "ServerPort" FROM items WHERE id = @id""", new { id }, cancellationToken: ct));
        return row is null ? Results.NotFound() : Results.Ok(new Item(row.Id, row.Name, BackendAt(ds, row.ServerPort)));
    }
});

app.MapGet("/items", async (PgRoutingDataSource ds, CancellationToken ct) =>
{
    await using var conn = await ds.OpenConnectionAsync(ct);
    var rows = await conn.QueryAsync<ItemRow>(new CommandDefinition(
        """SELECT id, name, inet_server_port() AS "ServerPort" FROM items ORDER BY id DESC LIMIT 20""", cancellationToken: ct));
    return Results.Ok(rows.Select(r => new Item(r.Id, r.Name, BackendAt(ds, r.ServerPort))));
});

await app.RunAsync();

// inet_server_port() tells which server answered; the status table maps it back to a backend name.
static string? BackendAt(PgRoutingDataSource ds, int port) => ds.GetStatus().Backends.FirstOrDefault(b => b.Port == port)?.Name;
