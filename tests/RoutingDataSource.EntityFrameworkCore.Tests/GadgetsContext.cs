using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

public sealed class Gadget
{
    public int Id { get; set; }

    public string Name { get; set; } = "";
}

/// <summary>A context with one hand-written migration, for the migrations test.</summary>
public sealed class GadgetsContext(DbContextOptions<GadgetsContext> options) : DbContext(options)
{
    public DbSet<Gadget> Gadgets => Set<Gadget>();
}

[DbContext(typeof(GadgetsContext))]
[Migration("20261202000000_Gadgets")]
public sealed class GadgetsMigration : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable("Gadgets", t => new
        {
            Id = t.Column<int>(nullable: false).Annotation("Npgsql:ValueGenerationStrategy", Npgsql.EntityFrameworkCore.PostgreSQL.Metadata.NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
            Name = t.Column<string>(nullable: false),
        }, constraints: t => t.PrimaryKey("PK_Gadgets", x => x.Id));
        migrationBuilder.InsertData("Gadgets", ["Name"], ["text"], ["kettle"]);
    }
}
