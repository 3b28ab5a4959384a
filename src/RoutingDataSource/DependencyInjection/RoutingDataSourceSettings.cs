namespace RoutingDataSource;

/// <summary>
/// The configuration shape bound by <c>services.AddRoutingDataSource(configuration.GetSection("RoutingDataSource"))</c>:
/// a <c>Backends</c> array, and every <see cref="RoutingOptions"/> property at the same level.
/// </summary>
/// <example>
/// <code>
/// "RoutingDataSource": {
///   "Backends": [
///     { "Name": "n0", "ConnectionString": "Host=10.0.0.1;Username=app;Database=app", "Weight": 0 },
///     { "Name": "n1", "ConnectionString": "Host=10.0.0.2;Username=app;Database=app", "Weight": 1 }
///   ],
///   "HealthCheckInterval": "00:00:01",
///   "MaxReplicationLagBytes": 16777216
/// }
/// </code>
/// </example>
public sealed class RoutingDataSourceSettings
{
    /// <summary>The servers of the cluster.</summary>
    public IList<BackendSettings> Backends { get; } = new List<BackendSettings>();

    /// <summary>The routing options (bound from the same section).</summary>
    public RoutingOptions Options { get; } = new();

    /// <summary>The section's path (<c>RoutingDataSource</c>), named in every problem.</summary>
    internal string? ConfigurationPath { get; set; }

    /// <summary>What could not be read (unknown keys, values that do not convert), each with its path.</summary>
    internal List<string> Problems { get; } = [];

    internal PgRoutingDataSourceBuilder ToBuilder()
    {
        var b = new PgRoutingDataSourceBuilder(Options.Clone()) { ConfigurationPath = ConfigurationPath };
        foreach (var backend in Backends)
            b.AddBackend(backend.Name, backend.ConnectionString, backend.Weight, backend.Path);
        return b;
    }
}
