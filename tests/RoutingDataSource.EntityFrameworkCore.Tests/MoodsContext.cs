using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>A context whose one migration creates a PostgreSQL enum (the provider then reloads Npgsql's types).</summary>
public sealed class MoodsContext(DbContextOptions<MoodsContext> options) : DbContext(options);

[DbContext(typeof(MoodsContext))]
[Migration("20261202000001_Moods")]
public sealed class MoodsMigration : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
        => migrationBuilder.AlterDatabase().Annotation("Npgsql:Enum:mood", "happy,sad");
}
