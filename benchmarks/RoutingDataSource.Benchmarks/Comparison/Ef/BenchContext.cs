using Microsoft.EntityFrameworkCore;

namespace RoutingDataSource.Benchmarks.Comparison.Ef;

public sealed class BenchItem
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public int Counter { get; set; }
}

/// <summary>The one-table model of the EF Core cell.</summary>
public sealed class BenchContext(DbContextOptions<BenchContext> options) : DbContext(options)
{
    public DbSet<BenchItem> Items => Set<BenchItem>();
}
