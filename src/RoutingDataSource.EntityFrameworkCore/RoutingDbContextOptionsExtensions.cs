using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using RoutingDataSource;
using RoutingDataSource.EntityFrameworkCore;

// The namespace of UseNpgsql and the other provider registrations, so this shows up beside them.
#pragma warning disable IDE0130
namespace Microsoft.EntityFrameworkCore;
#pragma warning restore IDE0130

/// <summary>Configures a context to run on a <see cref="PgRoutingDataSource"/> cluster through the Npgsql EF Core provider.</summary>
public static class RoutingDbContextOptionsExtensions
{
    /// <summary>
    /// Uses the Npgsql provider over <paramref name="dataSource"/>, routing per command: outside a transaction a query
    /// goes to an eligible standby and everything else (SaveChanges, ExecuteUpdate/Delete, raw SQL that writes) to the
    /// primary, by the library's classifier and rules, with read-your-writes; a transaction
    /// (<c>Database.BeginTransaction</c>, SaveChanges of several commands, migrations) runs on the primary, a
    /// <see cref="RoutingDatabaseFacadeExtensions.BeginReadOnlyTransactionAsync"/> on one standby. Sets
    /// <see cref="RoutingExecutionStrategy"/>, which re-runs an operation after a failover.
    /// </summary>
    /// <param name="optionsBuilder">The context's options builder.</param>
    /// <param name="dataSource">The routing data source; the context does not own or dispose it.</param>
    /// <param name="npgsqlOptions">Npgsql provider options (migrations assembly, NodaTime, ...). Runs after this method's own, so an <c>ExecutionStrategy(...)</c> here replaces <see cref="RoutingExecutionStrategy"/>.</param>
    public static DbContextOptionsBuilder UseRoutingDataSource(this DbContextOptionsBuilder optionsBuilder, PgRoutingDataSource dataSource,
        Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(dataSource);
        var primary = new PrimaryDataSource(dataSource);
        optionsBuilder.UseNpgsql(primary, o =>
        {
            o.ExecutionStrategy(d => new RoutingExecutionStrategy(d));
            npgsqlOptions?.Invoke(o);
        });
        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(new RoutingOptionsExtension(primary));
        optionsBuilder.ReplaceService<Microsoft.EntityFrameworkCore.Migrations.IMigrator, RoutingMigrator>();
        optionsBuilder.ReplaceService<Microsoft.EntityFrameworkCore.Storage.IRelationalCommandBuilderFactory, RoutingCommandBuilderFactory>();
        // A write SaveChanges sends outside a transaction reads its commit position in the same round trip, as the
        // result after its own (read-your-writes): not a result EF should warn about.
        optionsBuilder.ConfigureWarnings(w => w.Ignore(RelationalEventId.UnexpectedTrailingResultSetWhenSaving));
        return optionsBuilder.AddInterceptors(RoutingInterceptor.Instance);
    }

    /// <inheritdoc cref="UseRoutingDataSource(DbContextOptionsBuilder, PgRoutingDataSource, Action{NpgsqlDbContextOptionsBuilder})"/>
    public static DbContextOptionsBuilder<TContext> UseRoutingDataSource<TContext>(this DbContextOptionsBuilder<TContext> optionsBuilder,
        PgRoutingDataSource dataSource, Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null)
        where TContext : DbContext
        => (DbContextOptionsBuilder<TContext>)UseRoutingDataSource((DbContextOptionsBuilder)optionsBuilder, dataSource, npgsqlOptions);

    /// <summary>
    /// As <see cref="UseRoutingDataSource(DbContextOptionsBuilder, PgRoutingDataSource, Action{NpgsqlDbContextOptionsBuilder})"/>,
    /// with the <see cref="PgRoutingDataSource"/> registered in <paramref name="services"/> by <c>AddRoutingDataSource(...)</c>:
    /// <c>services.AddDbContext&lt;Shop&gt;((sp, o) =&gt; o.UseRoutingDataSource(sp))</c>.
    /// </summary>
    /// <param name="optionsBuilder">The context's options builder.</param>
    /// <param name="services">The application's service provider (the one AddDbContext passes).</param>
    /// <param name="serviceKey">The key of a keyed registration (<c>AddRoutingDataSource("orders", ...)</c>), or null.</param>
    /// <param name="npgsqlOptions">Npgsql provider options.</param>
    public static DbContextOptionsBuilder UseRoutingDataSource(this DbContextOptionsBuilder optionsBuilder, IServiceProvider services,
        object? serviceKey = null, Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var dataSource = serviceKey is null
            ? services.GetRequiredService<PgRoutingDataSource>()
            : services.GetRequiredKeyedService<PgRoutingDataSource>(serviceKey);
        return UseRoutingDataSource(optionsBuilder, dataSource, npgsqlOptions);
    }
}
