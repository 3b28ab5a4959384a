using System.Net.Sockets;
using Npgsql;

namespace RoutingDataSource.Topology;

/// <summary>
/// Connection errors that no retry fixes: the server (or the name service) answered, and what it said is about the
/// configuration, not an outage. Pure.
/// </summary>
internal static class PermanentConnectionError
{
    /// <summary>What to fix, when <paramref name="e"/> is such an error; null for anything that may pass by itself.</summary>
    public static string? Advice(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case PostgresException { SqlState: "28P01" }:
                    return "wrong password (28P01): check the Username and Password of its connection string";
                case PostgresException { SqlState: "28000" }:
                    return "login refused (28000): the role may not log in, or pg_hba.conf has no entry for this user, database and address";
                case PostgresException { SqlState: "3D000" }:
                    return "unknown database (3D000): check the Database of its connection string";
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData }:
                    return "unknown host: check the Host of its connection string";
            }
        }
        return null;
    }
}
