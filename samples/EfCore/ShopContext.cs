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

    /// <summary>PostgreSQL's <c>inet_server_port()</c> inside a LINQ query: the port of the server that ran it.</summary>
    public static int ServerPort() => throw new InvalidOperationException("Only inside a LINQ query.");

    protected override void OnModelCreating(ModelBuilder modelBuilder)
        => modelBuilder.HasDbFunction(typeof(ShopContext).GetMethod(nameof(ServerPort))!).HasName("inet_server_port").IsBuiltIn();

    /// <summary>Where a LINQ query of this context runs now, asked by the query itself.</summary>
    public async Task<string> WhereQueriesRunAsync(BackendNames names, CancellationToken cancellationToken)
        => names.Describe(await Products.Select(p => ServerPort()).FirstAsync(cancellationToken));
}
