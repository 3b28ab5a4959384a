using RoutingDataSource;
using Spectre.Console;
using RoutingDataSource.Coordinator;
using RoutingDataSource.Testing;

// The demo behind ./build.sh demo: a local primary with two streaming standbys, a PgRoutingDataSource over them, a
// mixed workload, a standby made to lag, a failover of the primary, the old primary rejoining by itself through its
// node agent, a switchover back to it, and the routing status after each step.
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
if (Console.IsOutputRedirected)
{
    // A log or a pipe: no colour codes, and tables as wide as their content needs rather than 80 columns.
    AnsiConsole.Profile.Capabilities.Ansi = false;
    AnsiConsole.Profile.Width = 140;
}
var ct = stop.Token;

await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, ct);
Console.WriteLine($"1. Started a local cluster in {cluster.StartupDuration.TotalMilliseconds:0} ms ({cluster.ServerVersion}):");
foreach (var node in cluster.Nodes)
    Console.WriteLine($"     {node.Name}  127.0.0.1:{node.Port}  {(await node.IsInRecoveryAsync(ct) ? "standby" : "primary")}");

var builder = new PgRoutingDataSourceBuilder();
foreach (var node in cluster.Nodes)
    builder.AddBackend(node.Name, node.ConnectionString, weight: node == cluster.Primary ? 0 : 1);
builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(500);
builder.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
builder.Options.HealthCheckMaxRetries = 2;
builder.Options.MaxReplicationLagBytes = 256 * 1024;
await using var ds = builder.Build();
await ds.RefreshStatusAsync(ct);

await using (var conn = await ds.OpenConnectionAsync(ct))
    await Exec(conn, "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL, qty int NOT NULL)");
await cluster.WaitForReplicationAsync(cancellationToken: ct);

Console.WriteLine();
Console.WriteLine("2. A mixed workload: 200 orders written, 2,000 reads, 20 read-only transactions.");
await Live(ds, () => Workload(ds, writes: 200, reads: 2000, ct));

Console.WriteLine("3. Replay paused on n2 and 2 MB written: n2 lags past MaxReplicationLagBytes (256 KiB) and gets no reads.");
await cluster.Node("n2").PauseReplayAsync(ct);
await using (var conn = await ds.OpenConnectionAsync(ct))
    await Exec(conn, "INSERT INTO orders (item, qty) SELECT repeat('x', 200), g FROM generate_series(1, 8000) g");
await WaitFor(ds, s => s["n2"]!.ServesReads == false, ct);
await Live(ds, () => Workload(ds, writes: 0, reads: 1000, ct));
var lagSeen = ds.GetStatus()["n2"]!;

Console.WriteLine("4. Replay resumed: n2 catches up and serves reads again.");
await cluster.Node("n2").ResumeReplayAsync(ct);
await WaitFor(ds, s => s["n2"]!.ServesReads, ct);
await Live(ds, () => Workload(ds, writes: 0, reads: 1000, ct));

Console.WriteLine("5. The failover coordinator runs beside the cluster, and a node agent beside each server (a separate");
Console.WriteLine("   process, as the servers' OS user). The primary n0 is stopped (-m immediate): the coordinator confirms");
Console.WriteLine("   it is gone, promotes the most advanced standby and repoints the other; reads never stop, and the data");
Console.WriteLine("   source resumes writing by itself.");
const string replication = "host={host} port={port} user=postgres application_name={name}";
const string agentToken = "demo-agent-token-0123456789";
var coordinatorOptions = new CoordinatorOptions
{
    ReplicationConnInfo = replication,
    Http = "127.0.0.1:0", // any free loopback port
    AgentToken = agentToken,
};
foreach (var node in cluster.Nodes)
{
    // The built coordinator program is copied next to the demo (a project reference); the cluster stops the agents.
    var agent = await LocalNodeAgent.StartAsync(node, Path.Combine(AppContext.BaseDirectory, "RoutingDataSource.Coordinator.dll"), agentToken, replication, cancellationToken: ct);
    coordinatorOptions.Backends.Add(new CoordinatorBackend { Name = node.Name, ConnectionString = node.ConnectionString, Agent = agent.Address.ToString() });
}
await using var coordinator = await CoordinatorHost.StartAsync(coordinatorOptions, cancellationToken: ct);
while (coordinator.PrimaryName is null)
    await Task.Delay(50, ct);
Console.WriteLine($"   coordinator API: {coordinator.Address}cluster (primary {coordinator.PrimaryName})");
var stopped = DateTime.UtcNow;
await cluster.Primary.StopAsync(immediate: true, ct);
var firstWrite = await WriteUntilAccepted(ds, ct);
// Watched from now on: its agent may bring it back while the next step's workload runs.
var rejoined = WhenSeen(ds, s => s["n0"]! is { Role: BackendRole.Standby, State: BackendState.Up }, ct, TimeSpan.FromSeconds(90));
Console.WriteLine($"   {ds.GetStatus().PrimaryName} took over; the first write through the data source succeeded {(firstWrite - stopped).TotalMilliseconds:0} ms after the stop.");
await Live(ds, () => Workload(ds, writes: 50, reads: 500, ct));
var failoverMs = (firstWrite - stopped).TotalMilliseconds;

Console.WriteLine("6. Nobody touches n0: its agent, ordered by the coordinator, rewinds it onto the new primary's history");
Console.WriteLine("   (pg_rewind) and starts it as a standby; it serves reads again.");
var newPrimary = ds.GetStatus().PrimaryName!;
var rejoinMs = (await rejoined - firstWrite).TotalMilliseconds;
await Live(ds, () => Workload(ds, writes: 10, reads: 500, ct));

Console.WriteLine($"7. A switchover back to n0: {newPrimary} shuts down cleanly, n0 is promoted once it has received its");
Console.WriteLine($"   shutdown checkpoint, and {newPrimary} follows n0 without a rewind. No acknowledged write can be lost.");
using (var http = new HttpClient { BaseAddress = coordinator.Address, Timeout = TimeSpan.FromMinutes(1) })
{
    using var body = new StringContent("{\"candidate\": \"n0\"}", System.Text.Encoding.UTF8, "application/json");
    using var response = await http.PostAsync("switchover", body, ct);
    Console.WriteLine($"   POST /switchover: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
}
await WaitFor(ds, s => s.PrimaryName == "n0" && s[newPrimary]! is { Role: BackendRole.Standby, State: BackendState.Up }, ct, TimeSpan.FromSeconds(60));
await Live(ds, () => Workload(ds, writes: 20, reads: 500, ct));

var final = ds.GetStatus();
var reads = final.Backends.Sum(b => b.ReadCount);
var summary = new Table().Title("[bold]Summary[/]").AddColumn("what").AddColumn("figure");
summary.AddRow("reads served by standbys (n1, n2 while standbys)", $"{final["n2"]!.ReadCount + final["n1"]!.ReadCount:N0} of {reads:N0}");
summary.AddRow("reads served by n0 (weight 0: only while no standby was within the lag limit)", final["n0"]!.ReadCount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
summary.AddRow("n2's lag while its replay was paused", $"{lagSeen.LagBytes:N0} bytes: no reads until it caught up");
summary.AddRow("first write after the primary was killed", $"{failoverMs:0} ms (coordinator promotion included)");
summary.AddRow("old primary n0 back as a streaming standby, by its agent", $"{rejoinMs:0} ms after the new primary took writes");
summary.AddRow("after the switchover back", $"primary {final.PrimaryName}, {newPrimary} {final[newPrimary]!.Role.ToString().ToLowerInvariant()} ({final[newPrimary]!.State.ToString().ToLowerInvariant()})");
AnsiConsole.Write(summary);
Console.WriteLine("Done: every server the demo started is stopped when it exits.");
return 0;

// Runs a workload while a live table shows the cluster as the data source sees it (refreshed 4 times a second); when
// the output is not a terminal (a log, a pipe), the table is printed once, when the work is done.
static async Task Live(PgRoutingDataSource ds, Func<Task> work)
{
    var table = StatusTable(ds.GetStatus());
    if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
    {
        await work();
        Fill(table, ds.GetStatus());
        AnsiConsole.Write(table);
        return;
    }
    await AnsiConsole.Live(table).StartAsync(async ctx =>
    {
        var running = work();
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(250));
            Fill(table, ds.GetStatus());
            ctx.Refresh();
        }
        await running;
        Fill(table, ds.GetStatus());
        ctx.Refresh();
    });
}

static Table StatusTable(ClusterStatus status)
{
    var table = new Table().Border(TableBorder.Rounded);
    foreach (var column in new[] { "backend", "role", "state", "weight", "reads", "writes", "lag bytes", "timeline", "why" })
        table.AddColumn(column);
    Fill(table, status);
    return table;
}

static void Fill(Table table, ClusterStatus status)
{
    table.Rows.Clear();
    table.Title($"primary: [bold]{Markup.Escape(status.PrimaryName ?? "(none)")}[/]");
    foreach (var b in status.Backends)
    {
        var state = b.State switch
        {
            BackendState.Up => "[green]up[/]",
            BackendState.Fenced => "[red]fenced[/]",
            BackendState.Down => "[red]down[/]",
            _ => "[yellow]detached[/]",
        };
        table.AddRow(b.Name, b.Role.ToString().ToLowerInvariant(), state, b.Weight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            b.ReadCount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), b.WriteCount.ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
            b.LagBytes?.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) ?? "-", b.Timeline?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
            Markup.Escape(b.Reason ?? ""));
    }
}

static async Task Exec(System.Data.Common.DbConnection conn, string sql)
{
    await using var cmd = conn.CreateCommand();
    cmd.CommandText = sql;
    await cmd.ExecuteNonQueryAsync();
}

static async Task Workload(PgRoutingDataSource ds, int writes, int reads, CancellationToken ct)
{
    await using var conn = await ds.OpenConnectionAsync(ct);
    for (var i = 0; i < writes; i++)
        await Exec(conn, $"INSERT INTO orders (item, qty) VALUES ('item {i}', {i % 7 + 1})");
    // Reads on fresh connections: the writer's own connection would read its writes from the primary for a moment.
    await using var reader = await ds.OpenConnectionAsync(ct);
    await using var cmd = reader.CreateCommand();
    cmd.CommandText = "SELECT count(*), coalesce(sum(qty), 0) FROM orders WHERE id > $1";
    cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = 0L });
    for (var i = 0; i < reads; i++)
    {
        cmd.Parameters[0].Value = (long)(i % 100);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
    }
    for (var i = 0; i < reads / 100; i++)
    {
        await using var tx = await reader.BeginReadOnlyTransactionAsync(cancellationToken: ct);
        await using var q = reader.CreateCommand();
        q.CommandText = "SELECT max(id) FROM orders";
        await q.ExecuteScalarAsync(ct);
        await tx.CommitAsync(ct);
    }
}

// Writes through the data source until one is accepted by a primary: the ones caught by the failover fail with a
// RoutingException (lost in flight, or no primary yet) and the demo simply tries again.
static async Task<DateTime> WriteUntilAccepted(PgRoutingDataSource ds, CancellationToken ct)
{
    for (var attempt = 0; attempt < 300; attempt++)
    {
        try
        {
            await using var conn = await ds.OpenConnectionAsync(ct);
            await Exec(conn, "INSERT INTO orders (item, qty) VALUES ('after failover', 1)");
            return DateTime.UtcNow;
        }
        catch (RoutingException)
        {
            await Task.Delay(20, ct);
        }
    }
    throw new TimeoutException("no write was accepted within the demo's bound");
}

// When the data source first sees the condition hold (probing every 100 ms, bounded).
static async Task<DateTime> WhenSeen(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition, CancellationToken ct, TimeSpan timeout)
{
    await WaitFor(ds, condition, ct, timeout);
    return DateTime.UtcNow;
}

static async Task WaitFor(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition, CancellationToken ct, TimeSpan? timeout = null)
{
    using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
    bound.CancelAfter(timeout ?? TimeSpan.FromSeconds(30));
    while (!condition(await ds.RefreshStatusAsync(bound.Token)))
        await Task.Delay(100, bound.Token);
}
