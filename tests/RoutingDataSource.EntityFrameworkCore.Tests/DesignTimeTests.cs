using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Design.Internal;
using Microsoft.EntityFrameworkCore.Migrations;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

#pragma warning disable EF1001 // MigrationsOperations and OperationReporter: what dotnet ef itself calls (EF-pubternal, 10.x)

/// <summary>
/// <c>dotnet ef migrations add</c> and <c>dotnet ef migrations script</c>, run in process through EF's own design-time
/// operations (the ones the tool calls), on a context configured with <c>UseRoutingDataSource</c> by a design-time
/// factory, with no server to connect to.
/// </summary>
public sealed class DesignTimeTests
{
    [Fact]
    public async Task Migrations_add_and_script_find_a_routed_context_through_its_design_time_factory_without_a_server()
    {
        var dir = Directory.CreateTempSubdirectory("rds-ef-design-");
        try
        {
            var assembly = typeof(DesignTimeTests).Assembly;
            var operations = new MigrationsOperations(new OperationReporter(handler: null), assembly, assembly, dir.FullName,
                rootNamespace: "RoutingDataSource.EntityFrameworkCore.Tests", language: "C#", nullable: true, args: []);

            var files = operations.AddMigration("Initial", dir.FullName, nameof(DesignTimeShopContext), @namespace: null, dryRun: false);
            var migration = await File.ReadAllTextAsync(files.MigrationFile!);
            Assert.Contains("CreateTable(", migration, StringComparison.Ordinal);
            Assert.Contains("\"Parcels\"", migration, StringComparison.Ordinal);

            var script = operations.ScriptMigration(null, null, MigrationsSqlGenerationOptions.Idempotent, nameof(DesignTimeShopContext));
            Assert.Contains("__EFMigrationsHistory", script, StringComparison.Ordinal);
            Assert.True(DesignTimeShopContextFactory.Created >= 2);
        }
        finally
        {
            await DesignTimeShopContextFactory.DisposeDataSourcesAsync();
            dir.Delete(recursive: true);
        }
    }
}

public sealed class Parcel
{
    public int Id { get; set; }

    public string Label { get; set; } = "";
}

/// <summary>A context only design time creates, through <see cref="DesignTimeShopContextFactory"/>.</summary>
public sealed class DesignTimeShopContext(DbContextOptions<DesignTimeShopContext> options) : DbContext(options)
{
    public DbSet<Parcel> Parcels => Set<Parcel>();
}

/// <summary>What dotnet ef finds in the startup assembly: a data source whose only backend nothing listens on.</summary>
public sealed class DesignTimeShopContextFactory : IDesignTimeDbContextFactory<DesignTimeShopContext>
{
    private static readonly List<PgRoutingDataSource> DataSources = [];

    public static int Created { get; private set; }

    public DesignTimeShopContext CreateDbContext(string[] args)
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("nowhere", "Host=127.0.0.1;Port=1;Database=shop;Username=nobody");
        var ds = b.Build();
        lock (DataSources)
        {
            DataSources.Add(ds);
            Created++;
        }
        return new DesignTimeShopContext(new DbContextOptionsBuilder<DesignTimeShopContext>().UseRoutingDataSource(ds).Options);
    }

    public static async Task DisposeDataSourcesAsync()
    {
        PgRoutingDataSource[] all;
        lock (DataSources)
        {
            all = [.. DataSources];
            DataSources.Clear();
        }
        foreach (var ds in all)
            await ds.DisposeAsync();
    }
}
