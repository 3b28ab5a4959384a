using EfCoreSample;
using Microsoft.EntityFrameworkCore;
using RoutingDataSource;
using RoutingDataSource.EntityFrameworkCore;
using RoutingDataSource.Testing;

// EF Core over a routing data source: a context cannot be routed statement by statement (the Npgsql provider needs a
// real NpgsqlConnection), so each context is bound to one server for its life. Writes: a read-write context on the
// primary. Reads: a read-only context on one standby. Every server this sample starts is stopped when it exits.
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = stop.Token;

await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, ct);
Console.WriteLine($"Started a local cluster: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Name} on port {n.Port}"))}");

var builder = new PgRoutingDataSourceBuilder();
foreach (var node in cluster.Nodes)
    builder.AddBackend(node.Name, node.ConnectionString, weight: node == cluster.Primary ? 0 : 1);
builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(500);
await using var ds = builder.Build();
await ds.RefreshStatusAsync(ct);
var names = new BackendNames(ds);
var contexts = new RoutingDbContextFactory<ShopContext>(ds);

await using (var db = await contexts.CreateDbContextAsync(ct))
{
    await db.Database.EnsureCreatedAsync(ct);
    Console.WriteLine($"1. Schema created through a read-write context on {await db.ServerAsync(names, ct)}");
}

await using (var db = await contexts.CreateDbContextAsync(ct))
{
    db.Products.AddRange(
        new Product { Name = "kettle", Price = 29.90m },
        new Product { Name = "teapot", Price = 19.50m },
        new Product { Name = "mug", Price = 6.00m });
    var saved = await db.SaveChangesAsync(ct);
    Console.WriteLine($"2. SaveChanges wrote {saved} products through a read-write context on {await db.ServerAsync(names, ct)}");
}

// A read-only context is bound to a standby when it is created: wait until the write has been replayed there.
await cluster.WaitForReplicationAsync(cancellationToken: ct);

await using (var db = await contexts.CreateReadOnlyDbContextAsync(ct))
{
    var products = await db.Products.OrderBy(p => p.Price).ToListAsync(ct);
    Console.WriteLine($"3. A read-only context on {await db.ServerAsync(names, ct)} read {products.Count} products: "
        + string.Join(", ", products.Select(p => $"{p.Name} {p.Price}")));
    Console.WriteLine($"   It tracks nothing ({db.ChangeTracker.Entries().Count()} tracked entries) and refuses SaveChanges:");
    db.Products.Add(new Product { Name = "never saved" });
    try
    {
        await db.SaveChangesAsync(ct);
    }
    catch (InvalidOperationException e)
    {
        Console.WriteLine($"   {e.Message}");
    }
}

for (var i = 0; i < 4; i++)
{
    await using var db = await contexts.CreateReadOnlyDbContextAsync(ct);
    Console.WriteLine($"4.{i + 1} Another read-only context: {await db.ServerAsync(names, ct)}, {await db.Products.CountAsync(ct)} products");
}

Console.WriteLine();
Console.WriteLine("Statements sent through physical connections are not counted in the routing table (reads/writes columns):");
Console.WriteLine(ds.GetStatus());
return 0;
