using System.Net;
using System.Net.Sockets;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>Free loopback TCP ports, asked from the kernel (bind to port 0), never the same one twice in this process.</summary>
internal static class FreePort
{
    private static readonly HashSet<int> Given = [];

    public static int Next()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            lock (Given)
            {
                if (Given.Add(port))
                    return port;
            }
        }

        throw new InvalidOperationException("No free loopback port after 1000 attempts.");
    }
}
