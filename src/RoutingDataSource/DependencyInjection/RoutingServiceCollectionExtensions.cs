using System.Data.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingDataSource;

// The conventional namespace for IServiceCollection extensions, so they show up without an extra using.
#pragma warning disable IDE0130
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Registers a <see cref="RoutingDataSource.PgRoutingDataSource"/> in a service collection.</summary>
public static class RoutingServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="RoutingDataSource.PgRoutingDataSource"/> (also as <see cref="DbDataSource"/>) built by
    /// <paramref name="configure"/>. It uses the container's <see cref="ILoggerFactory"/> when one is registered, and
    /// is disposed with the container.
    /// </summary>
    public static IServiceCollection AddRoutingDataSource(this IServiceCollection services, Action<RoutingDataSource.PgRoutingDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, sp =>
        {
            var b = new RoutingDataSource.PgRoutingDataSourceBuilder();
            b.UseLoggerFactory(sp.GetService<ILoggerFactory>());
            configure(b);
            return b.Build();
        });
    }

    /// <summary>
    /// Registers a singleton <see cref="RoutingDataSource.PgRoutingDataSource"/> (also as <see cref="DbDataSource"/>) from a
    /// configuration section shaped like <see cref="RoutingDataSourceSettings"/>. The settings are validated when the
    /// host starts (every problem listed in one <see cref="OptionsValidationException"/>); <paramref name="configure"/>
    /// may add what configuration cannot express (Npgsql plugins, for instance).
    /// </summary>
    public static IServiceCollection AddRoutingDataSource(this IServiceCollection services, IConfiguration configuration,
        Action<RoutingDataSource.PgRoutingDataSourceBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<RoutingDataSourceSettings>()
            .Configure(s =>
            {
                configuration.Bind(s);
                configuration.Bind(s.Options);
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RoutingDataSourceSettings>, RoutingDataSourceSettingsValidator>();
        return Register(services, sp =>
        {
            var b = sp.GetRequiredService<IOptions<RoutingDataSourceSettings>>().Value.ToBuilder();
            b.UseLoggerFactory(sp.GetService<ILoggerFactory>());
            configure?.Invoke(b);
            return b.Build();
        });
    }

    private static IServiceCollection Register(IServiceCollection services, Func<IServiceProvider, RoutingDataSource.PgRoutingDataSource> factory)
    {
        services.AddSingleton(factory);
        services.AddSingleton<DbDataSource>(static sp => sp.GetRequiredService<RoutingDataSource.PgRoutingDataSource>());
        return services;
    }

    private sealed class RoutingDataSourceSettingsValidator : IValidateOptions<RoutingDataSourceSettings>
    {
        public ValidateOptionsResult Validate(string? name, RoutingDataSourceSettings options)
        {
            var problems = options.ToBuilder().Validate();
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
