using EfCoreSample;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RoutingDataSource;
using RoutingDataSource.Testing;

// One EF Core context for reads and writes over a routing data source: its queries run on the standbys, SaveChanges
// and transactions on the primary, and a query right after a write sees it. Every server this sample starts is
// stopped when it exits.
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = stop.Token;

await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, ct);
Console.WriteLine($"Started a local cluster: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Name} on port {n.Port}"))}");

// The ordinary EF registration: AddDbContext (or AddDbContextPool / AddDbContextFactory) with UseRoutingDataSource.
var services = new ServiceCollection();
services.AddRoutingDataSource(b =>
{
    foreach (var node in cluster.Nodes)
        b.AddBackend(node.Name, node.ConnectionString, weight: node == cluster.Primary ? 0 : 1);
    b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(500);
});
services.AddDbContext<ShopContext>((sp, o) => o.UseRoutingDataSource(sp));
await using var app = services.BuildServiceProvider();
var ds = app.GetRequiredService<PgRoutingDataSource>();
await ds.RefreshStatusAsync(ct);
var names = new BackendNames(ds);

await using (var scope = app.CreateAsyncScope())
{
    var db = scope.ServiceProvider.GetRequiredService<ShopContext>();
    // The schema from Migrations/ (made by `dotnet ef migrations add Initial`, through ShopContextFactory): on the primary.
    await db.Database.MigrateAsync(ct);
    db.Products.AddRange(
        new Product { Name = "kettle", Price = 29.90m },
        new Product { Name = "teapot", Price = 19.50m },
        new Product { Name = "mug", Price = 6.00m });
    var saved = await db.SaveChangesAsync(ct);
    Console.WriteLine($"1. Migrate and SaveChanges ({saved} products) ran on the primary.");

    // Read-your-writes: the write's commit position came back with it; this context's queries go to a standby that has
    // replayed that far (behind a guard when the data source does not know it yet), else to the primary.
    var read = await db.Products.GroupBy(p => 1).Select(g => new { Count = g.Count(), Port = ShopContext.ServerPort() }).SingleAsync(ct);
    Console.WriteLine($"2. Right after the write, the same context reads {read.Count} products on {names.Describe(read.Port)}");
}

await cluster.WaitForReplicationAsync(cancellationToken: ct);
await ds.RefreshStatusAsync(ct);

await using (var scope = app.CreateAsyncScope())
{
    var db = scope.ServiceProvider.GetRequiredService<ShopContext>();
    for (var i = 0; i < 4; i++)
    {
        var cheapest = await db.Products.OrderBy(p => p.Price).Select(p => new { p.Name, Port = ShopContext.ServerPort() }).FirstAsync(ct);
        Console.WriteLine($"3.{i + 1} A query (cheapest: {cheapest.Name}) ran on {names.Describe(cheapest.Port)}");
    }

    var mug = await db.Products.SingleAsync(p => p.Name == "mug", ct);
    mug.Price = 7.00m;
    await db.SaveChangesAsync(ct);
    var raised = await db.Products.Where(p => p.Price < 10).ExecuteUpdateAsync(u => u.SetProperty(p => p.Price, p => p.Price + 1), ct);
    var now = await db.Products.AsNoTracking().Where(p => p.Name == "mug").Select(p => new { p.Price, Port = ShopContext.ServerPort() }).SingleAsync(ct);
    Console.WriteLine($"4. SaveChanges and ExecuteUpdate ({raised} row) ran on the primary; read right after: the mug costs {now.Price}, "
        + $"read on {names.Describe(now.Port)} (read-your-writes: the primary, or a standby that has replayed both writes)");

    var primaryOnly = await db.Products.OnPrimary().Select(p => ShopContext.ServerPort()).FirstAsync(ct);
    Console.WriteLine($"5. .OnPrimary() sends a query to {names.Describe(primaryOnly)}");

    // A read-only transaction binds the context to one standby (one snapshot) until it ends. As with any retrying
    // execution strategy, a transaction the application begins goes inside the strategy.
    await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
    {
        await using var tx = await db.Database.BeginReadOnlyTransactionAsync(cancellationToken: ct);
        var total = await db.Products.SumAsync(p => p.Price, ct);
        Console.WriteLine($"6. A read-only transaction: total {total} on {await db.WhereQueriesRunAsync(names, ct)}, "
            + $"again {await db.WhereQueriesRunAsync(names, ct)}");
    });
}

Console.WriteLine();
Console.WriteLine("Statements the context sent, counted per server in the routing table (reads/writes columns):");
Console.WriteLine(ds.GetStatus());
return 0;
