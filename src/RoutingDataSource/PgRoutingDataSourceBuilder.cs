using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

/// <summary>
/// Collects backends and options and builds an immutable, thread-safe <see cref="PgRoutingDataSource"/>.
/// </summary>
/// <example>
/// <code>
/// var builder = new PgRoutingDataSourceBuilder();
/// builder.AddBackend("n0", "Host=10.0.0.1;Username=app;Password=...;Database=app", weight: 1); // while a standby
/// builder.AddBackend("n1", "Host=10.0.0.2;Username=app;Password=...;Database=app", weight: 1);
/// await using var ds = builder.Build();
/// </code>
/// </example>
public sealed class PgRoutingDataSourceBuilder
{
    private readonly List<(string Name, string ConnectionString, int Weight, string? Path)> _backends = [];
    private readonly List<Action<NpgsqlDataSourceBuilder>> _configure = [];
    private ILoggerFactory? _loggerFactory;

    /// <summary>Creates an empty builder.</summary>
    public PgRoutingDataSourceBuilder()
        : this(new RoutingOptions())
    {
    }

    internal PgRoutingDataSourceBuilder(RoutingOptions options) => Options = options;

    /// <summary>The routing options; every knob has a documented default.</summary>
    public RoutingOptions Options { get; }

    internal TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Adds a server of the cluster. Its role (primary or standby) is discovered, not configured.
    /// </summary>
    /// <param name="name">A unique name (shown in status, logs and metrics; matched against a standby's <c>application_name</c> for lag).</param>
    /// <param name="connectionString">An Npgsql connection string for this one server (a single host). It configures that server's pool.</param>
    /// <param name="weight">Share of reads this server receives while it is an eligible standby; 0 means it never serves reads by weight. Whether the current primary serves reads is <see cref="RoutingOptions.PrimaryServesReads"/>.</param>
    public PgRoutingDataSourceBuilder AddBackend(string name, string connectionString, int weight = 1)
        => AddBackend(name, connectionString, weight, path: null);

    /// <summary>A backend read from configuration at <paramref name="path"/> (<c>RoutingDataSource:Backends:1</c>), which its problems name.</summary>
    internal PgRoutingDataSourceBuilder AddBackend(string name, string connectionString, int weight, string? path)
    {
        _backends.Add((name, connectionString, weight, path));
        return this;
    }

    /// <summary>The configuration section the options came from (<c>RoutingDataSource</c>); problems then name paths in it.</summary>
    internal string? ConfigurationPath { get; init; }

    /// <summary>Logs routing, health and failover events, and is passed to each backend's Npgsql data source.</summary>
    public PgRoutingDataSourceBuilder UseLoggerFactory(ILoggerFactory? loggerFactory)
    {
        _loggerFactory = loggerFactory;
        return this;
    }

    /// <summary>
    /// Applies Npgsql configuration (type mappings, plugins, certificate callbacks...) to every backend's
    /// <see cref="NpgsqlDataSourceBuilder"/>.
    /// </summary>
    public PgRoutingDataSourceBuilder ConfigureBackends(Action<NpgsqlDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _configure.Add(configure);
        return this;
    }

    /// <summary>
    /// Validates everything and builds the data source. Contacts no server: unreachable backends are not an error,
    /// routing starts with what answers.
    /// </summary>
    /// <exception cref="RoutingConfigurationException">Lists every problem found.</exception>
    public PgRoutingDataSource Build()
    {
        var problems = Validate(out var parsed);
        if (problems.Count > 0)
            throw new RoutingConfigurationException(problems);
        return BuildValidated(parsed);
    }

    /// <summary>Every configuration problem, without building anything (also used by DI's start-up validation).</summary>
    internal List<string> Validate() => Validate(out _);

    private List<string> Validate(out List<(string Name, NpgsqlConnectionStringBuilder Csb, int Weight)> parsed)
    {
        var problems = Options.Validate();
        if (ConfigurationPath is { } section)
        {
            // Each problem starts with the option's name: "HealthCheckInterval must be positive" is at RoutingDataSource:HealthCheckInterval.
            for (var i = 0; i < problems.Count; i++)
                problems[i] = typeof(RoutingOptions).GetProperty(problems[i].Split(' ', 2)[0]) is not null ? $"{section}:{problems[i]}" : $"{section}: {problems[i]}";
        }
        if (_backends.Count == 0)
        {
            problems.Add(ConfigurationPath is { } s
                ? $"{s}:Backends: no backend configured (expected {s}:Backends:0:Name, {s}:Backends:0:ConnectionString, ...)."
                : "No backend configured: call AddBackend at least once.");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        parsed = [];
        for (var i = 0; i < _backends.Count; i++)
        {
            var (name, cs, weight, path) = _backends[i];
            var label = Label(i, name, path, key: null);
            if (string.IsNullOrWhiteSpace(name))
                problems.Add($"{Label(i, name, path, "Name")}: the name is empty.");
            else if (!names.Add(name))
                problems.Add($"{label}: the name is used twice.");
            if (weight < 0)
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Label(i, name, path, "Weight")}: weight must be 0 or more (was {weight})."));
            var csLabel = Label(i, name, path, "ConnectionString");
            if (BackendConnectionString.TryParse(cs, out var csb, out var error))
            {
                foreach (var p in BackendConnectionString.Problems(csb))
                    problems.Add($"{csLabel}: {p}");
                parsed.Add((name, csb, weight));
            }
            else
            {
                problems.Add($"{csLabel}: {error}");
            }
        }
        return problems;
    }

    /// <summary>How a problem names a backend: <c>backend 'n1'</c>, or its configuration path <c>RoutingDataSource:Backends:1:Weight (n1)</c>.</summary>
    private static string Label(int index, string name, string? path, string? key)
    {
        var blank = string.IsNullOrWhiteSpace(name);
        if (path is null)
            return blank ? string.Create(CultureInfo.InvariantCulture, $"backend #{index + 1}") : $"backend '{name}'";
        var at = key is null ? path : $"{path}:{key}";
        return blank ? at : $"{at} ({name})";
    }

    private PgRoutingDataSource BuildValidated(List<(string Name, NpgsqlConnectionStringBuilder Csb, int Weight)> parsed)
    {
        var loggerFactory = _loggerFactory ?? NullLoggerFactory.Instance;
        var options = Options.Clone();
        var backends = new Backend[parsed.Count];
        for (var i = 0; i < parsed.Count; i++)
        {
            var (name, csb, weight) = parsed[i];
            var pool = new NpgsqlDataSourceBuilder(csb.ConnectionString);
            pool.UseLoggerFactory(loggerFactory);
            foreach (var c in _configure)
                c(pool);
            // No logger factory for the probe pool: Npgsql would log every probe (several a second) at Information
            // into the application's logs. Probe outcomes are reported by the monitor's own events instead.
            var probe = new NpgsqlDataSourceBuilder(BackendConnectionString.ForProbes(csb, options.HealthCheckTimeout));
            foreach (var c in _configure)
                c(probe);
            // Nor any trace: a probe round every interval for every server would bury the application's spans.
            probe.ConfigureTracing(static t => t
                .ConfigureCommandFilter(static _ => false)
                .ConfigureBatchFilter(static _ => false)
                .EnablePhysicalOpenTracing(false)
                .EnableFirstResponseEvent(false));
            backends[i] = new Backend(i, name, csb.Host!, csb.Port, weight, pool.Build(), probe.Build());
        }
        return new PgRoutingDataSource(backends, options, loggerFactory, TimeProvider);
    }
}
