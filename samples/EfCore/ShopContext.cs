using Microsoft.EntityFrameworkCore;

namespace EfCoreSample;

public sealed class Product
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public decimal Price { get; set; }
}

public sealed class ShopContext(DbContextOptions<ShopContext> options) : DbContext(options)
{
    public DbSet<Product> Products => Set<Product>();

    /// <summary>Where this context's statements run: every context is bound to one server for its whole life.</summary>
    public async Task<string> ServerAsync(BackendNames names, CancellationToken cancellationToken)
    {
        var port = await Database.SqlQuery<int>($"SELECT inet_server_port() AS \"Value\"").SingleAsync(cancellationToken);
        var standby = await Database.SqlQuery<bool>($"SELECT pg_is_in_recovery() AS \"Value\"").SingleAsync(cancellationToken);
        return $"{names.ByPort(port)} (port {port}, {(standby ? "standby" : "primary")})";
    }
}
