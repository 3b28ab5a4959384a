using System.Net;
using System.Net.Sockets;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// Free loopback TCP ports, asked from the kernel (bind to port 0). Another process may take a
/// port between this check and the server's bind; the cluster retries with a new port then.
/// </summary>
internal static class PortAllocator
{
    private static readonly HashSet<int> Given = [];

    /// <summary>A port free right now and not handed out before by this process.</summary>
    public static int Next()
    {
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            lock (Given)
            {
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
