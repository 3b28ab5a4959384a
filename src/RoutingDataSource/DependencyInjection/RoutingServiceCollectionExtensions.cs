using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RoutingDataSource;
using RoutingDataSource.DependencyInjection;

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
        => services.AddRoutingDataSource(serviceKey: null, configure);

    /// <summary>
    /// Registers a singleton <see cref="RoutingDataSource.PgRoutingDataSource"/> (also as <see cref="DbDataSource"/>) built by
    /// <paramref name="configure"/>, as a keyed service when <paramref name="serviceKey"/> is not null (like Npgsql's
    /// <c>AddNpgsqlDataSource(..., serviceKey)</c>): inject it with <c>[FromKeyedServices("orders")] PgRoutingDataSource</c>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="serviceKey">The key of the registration, or null for the unkeyed one.</param>
    /// <param name="configure">Adds the backends and sets the options.</param>
    public static IServiceCollection AddRoutingDataSource(this IServiceCollection services, object? serviceKey,
        Action<RoutingDataSource.PgRoutingDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, serviceKey, sp =>
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
    /// host starts: every problem (unknown keys and values that do not convert included) is listed in one
    /// <see cref="OptionsValidationException"/>, each with its configuration path. <paramref name="configure"/> may add
    /// what configuration cannot express (Npgsql plugins, for instance).
    /// </summary>
    public static IServiceCollection AddRoutingDataSource(this IServiceCollection services, IConfiguration configuration,
        Action<RoutingDataSource.PgRoutingDataSourceBuilder>? configure = null)
        => services.AddRoutingDataSource(serviceKey: null, configuration, configure);

    /// <summary>
    /// Registers a singleton <see cref="RoutingDataSource.PgRoutingDataSource"/> (also as <see cref="DbDataSource"/>) from a
    /// configuration section, as a keyed service when <paramref name="serviceKey"/> is not null; validated at host start
    /// as <see cref="AddRoutingDataSource(IServiceCollection, IConfiguration, Action{RoutingDataSource.PgRoutingDataSourceBuilder}?)"/> is.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="serviceKey">The key of the registration, or null for the unkeyed one.</param>
    /// <param name="configuration">The section (<c>configuration.GetSection("Orders")</c>).</param>
    /// <param name="configure">Adds what configuration cannot express.</param>
    public static IServiceCollection AddRoutingDataSource(this IServiceCollection services, object? serviceKey, IConfiguration configuration,
        Action<RoutingDataSource.PgRoutingDataSourceBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var optionsName = OptionsName(serviceKey);
        services.AddOptions<RoutingDataSourceSettings>(optionsName)
            .Configure(s => SettingsReader.Read(configuration, s))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingDataSourceSettings>, RoutingDataSourceSettingsValidator>());
        return Register(services, serviceKey, sp =>
        {
            var b = sp.GetRequiredService<IOptionsMonitor<RoutingDataSourceSettings>>().Get(optionsName).ToBuilder();
            b.UseLoggerFactory(sp.GetService<ILoggerFactory>());
            configure?.Invoke(b);
            return b.Build();
        });
    }

    // One named options instance per key; the unkeyed registration keeps the default name.
    private static string OptionsName(object? serviceKey)
        => serviceKey is null ? Microsoft.Extensions.Options.Options.DefaultName : "RoutingDataSource:" + Convert.ToString(serviceKey, CultureInfo.InvariantCulture);

    private static IServiceCollection Register(IServiceCollection services, object? serviceKey, Func<IServiceProvider, RoutingDataSource.PgRoutingDataSource> factory)
    {
        if (serviceKey is null)
        {
            services.AddSingleton(factory);
            services.AddSingleton<DbDataSource>(static sp => sp.GetRequiredService<RoutingDataSource.PgRoutingDataSource>());
        }
        else
        {
            services.AddKeyedSingleton(serviceKey, (sp, _) => factory(sp));
            services.AddKeyedSingleton<DbDataSource>(serviceKey, static (sp, key) => sp.GetRequiredKeyedService<RoutingDataSource.PgRoutingDataSource>(key));
        }
        return services;
    }

    private sealed class RoutingDataSourceSettingsValidator : IValidateOptions<RoutingDataSourceSettings>
    {
        public ValidateOptionsResult Validate(string? name, RoutingDataSourceSettings options)
        {
            var problems = new List<string>(options.Problems);
            problems.AddRange(options.ToBuilder().Validate());
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
