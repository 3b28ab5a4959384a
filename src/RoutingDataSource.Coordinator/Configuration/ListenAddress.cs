using System.Globalization;
using System.Net;

namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>The HTTP API's <c>host:port</c>: an IP address or <c>localhost</c>, and a port (0 = any free one).</summary>
internal readonly record struct ListenAddress(IPAddress Address, int Port)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public static bool TryParse(string? text, out ListenAddress address, out string? error)
    {
        address = default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "Http must be host:port, e.g. 127.0.0.1:8008.";
            return false;
        }
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            error = $"Http '{text}' must be host:port with a port from 0 to 65535, e.g. 127.0.0.1:8008.";
            return false;
        }
        var host = text[..colon].Trim('[', ']');
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = new ListenAddress(IPAddress.Loopback, port);
            return true;
        }
        if (!IPAddress.TryParse(host, out var ip))
        {
            error = $"Http '{text}': the host must be an IP address or localhost.";
            return false;
        }
        address = new ListenAddress(ip, port);
        return true;
    }

    public override string ToString() => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? string.Create(CultureInfo.InvariantCulture, $"[{Address}]:{Port}")
        : string.Create(CultureInfo.InvariantCulture, $"{Address}:{Port}");
}
