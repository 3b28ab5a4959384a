namespace RoutingDataSource;

/// <summary>One backend in configuration (<c>RoutingDataSource:Backends:N</c>): the same three values as <see cref="PgRoutingDataSourceBuilder.AddBackend(string, string, int)"/>.</summary>
public sealed class BackendSettings
{
    /// <summary>Unique name of the backend.</summary>
    public string Name { get; set; } = "";

    /// <summary>Npgsql connection string for this one server.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Read weight while this backend is a standby (0: never serves reads by weight; see <see cref="RoutingOptions.PrimaryServesReads"/>). Default 1.</summary>
    public int Weight { get; set; } = 1;

    /// <summary>Where it was read from (<c>RoutingDataSource:Backends:1</c>), for the problems found in it.</summary>
    internal string? Path { get; set; }
}
