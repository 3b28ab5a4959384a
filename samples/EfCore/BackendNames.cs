using RoutingDataSource;

namespace EfCoreSample;

/// <summary>Maps a server port back to the backend name and role the data source knows it by, for printing.</summary>
public sealed class BackendNames(PgRoutingDataSource dataSource)
{
    public string Describe(int port)
    {
        var b = dataSource.GetStatus().Backends.FirstOrDefault(x => x.Port == port);
        return b is null ? $"port {port}" : $"{b.Name} ({b.Role.ToString().ToLowerInvariant()}, port {port})";
    }
}
