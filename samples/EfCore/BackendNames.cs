using RoutingDataSource;

namespace EfCoreSample;

/// <summary>Maps a server port back to the backend name the data source knows it by, for printing.</summary>
public sealed class BackendNames(PgRoutingDataSource dataSource)
{
    public string ByPort(int port) => dataSource.GetStatus().Backends.FirstOrDefault(b => b.Port == port)?.Name ?? "?";
}
