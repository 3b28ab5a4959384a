using System.Diagnostics.CodeAnalysis;
using Microsoft.EntityFrameworkCore;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using RoutingDataSource;
using RoutingDataSource.EntityFrameworkCore;

// The conventional namespace for IServiceCollection extensions, so they show up without an extra using.
#pragma warning disable IDE0130
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Registers a <see cref="RoutingDbContextFactory{TContext}"/> in a service collection.</summary>
public static class RoutingDbContextServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="RoutingDbContextFactory{TContext}"/> over the <see cref="PgRoutingDataSource"/>
    /// registered in the container (<c>services.AddRoutingDataSource(...)</c>). Contexts are built with the container's
    /// services, so their constructors may take services besides their options.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Provider-independent context options, applied to every context. Do not call <c>UseNpgsql</c> here.</param>
    /// <param name="npgsqlOptions">Npgsql provider options, applied to every context.</param>
    public static IServiceCollection AddRoutingDbContextFactory<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TContext>(
        this IServiceCollection services, Action<IServiceProvider, DbContextOptionsBuilder<TContext>>? configure = null,
        Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(sp => new RoutingDbContextFactory<TContext>(
            sp.GetRequiredService<PgRoutingDataSource>(),
            configure is null ? null : b => configure(sp, b),
            npgsqlOptions,
            options => ActivatorUtilities.CreateInstance<TContext>(sp, options)));
        return services;
    }
}
