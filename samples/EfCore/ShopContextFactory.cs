using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using RoutingDataSource;

namespace EfCoreSample;

/// <summary>
/// How <c>dotnet ef migrations add</c> and <c>dotnet ef migrations script</c> get a <see cref="ShopContext"/> from this
/// sample, which registers its context in a plain service collection after starting a cluster (an application on the
/// generic or web host needs no factory: dotnet ef takes the context from the host's services). Neither command
/// connects to a server, so the data source here only has to describe one: <c>SHOP_PRIMARY</c>, else a local default.
/// </summary>
public sealed class ShopContextFactory : IDesignTimeDbContextFactory<ShopContext>
{
    public ShopContext CreateDbContext(string[] args)
    {
        var builder = new PgRoutingDataSourceBuilder();
        builder.AddBackend("primary", Environment.GetEnvironmentVariable("SHOP_PRIMARY") ?? "Host=localhost;Database=shop;Username=postgres");
        // The context does not own the data source; this one lives as long as the dotnet ef process.
        return new ShopContext(new DbContextOptionsBuilder<ShopContext>().UseRoutingDataSource(builder.Build()).Options);
    }
}
