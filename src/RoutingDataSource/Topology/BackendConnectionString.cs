using System.Globalization;
using Npgsql;

namespace RoutingDataSource.Topology;

/// <summary>Parsing and checking of one backend's Npgsql connection string, and the variant the health probes use.</summary>
internal static class BackendConnectionString
{
    public static bool TryParse(string? connectionString, out NpgsqlConnectionStringBuilder builder, out string? error)
    {
        builder = new NpgsqlConnectionStringBuilder();
        error = null;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            error = "the connection string is empty.";
            return false;
        }
        try
        {
            builder.ConnectionString = connectionString;
            return true;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            error = "invalid connection string: " + Explain(connectionString, e);
            return false;
        }
    }

    /// <summary>
    /// Which part of the string is wrong, in words a person can act on (Npgsql's "Format of the initialization string
    /// does not conform to specification starting at index 0" names neither the key nor what is expected). Never echoes
    /// a value: it may be the password.
    /// </summary>
    private static string Explain(string connectionString, Exception e)
    {
        var pairs = new System.Data.Common.DbConnectionStringBuilder();
        try
        {
            pairs.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            return "it is not a list of Key=Value pairs separated by ';' (quote a value that contains ';', '=' or quotes).";
        }
        foreach (string key in pairs.Keys)
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder { [key] = pairs[key] };
            }
            catch (Exception k) when (k is ArgumentException or FormatException or InvalidCastException or OverflowException)
            {
                // Npgsql's ContainsKey answers whether the keyword exists, not whether it is set.
                return new NpgsqlConnectionStringBuilder().ContainsKey(key)
                    ? $"the value of '{key}' is not valid."
                    : $"'{key}' is not an Npgsql connection string keyword.";
            }
        }
        return e.Message;
    }

    public static IEnumerable<string> Problems(NpgsqlConnectionStringBuilder csb)
    {
        if (string.IsNullOrWhiteSpace(csb.Host))
            yield return "the connection string has no Host.";
        else if (csb.Host.Contains(',', StringComparison.Ordinal))
            yield return "one host per backend: add each server with its own AddBackend (or use PgRoutingDataSource.Create for a multi-host string).";
        if (csb.TargetSessionAttributes is { Length: > 0 })
            yield return "Target Session Attributes must not be set: the routing data source decides where each statement goes.";
        if (csb.Multiplexing)
            yield return "Multiplexing is not supported: a routed statement needs its own physical connection.";
    }

    /// <summary>
    /// The probe pool: small, a short connect timeout, and no command timeout (a timed-out query would make Npgsql send
    /// a cancel request, which blocks a thread until a hung server answers; <see cref="BackendProbe"/> gives up on a
    /// slow probe itself).
    /// </summary>
    public static string ForProbes(NpgsqlConnectionStringBuilder csb, TimeSpan timeout)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
        var probe = new NpgsqlConnectionStringBuilder(csb.ConnectionString)
        {
            Pooling = true,
            MinPoolSize = 0,
            MaxPoolSize = 2,
            Timeout = seconds,
            CommandTimeout = 0,
            CancellationTimeout = -1,
            ApplicationName = "RoutingDataSource monitor",
            // TCP keepalives, not Npgsql's: its keepalive is a query sent from a timer with a blocking read, which holds
            // a thread-pool thread for as long as a frozen server does not answer.
            TcpKeepAlive = true,
        };
        return probe.ConnectionString;
    }

    /// <summary>
    /// One backend per host of an Npgsql multi-host connection string (<c>Host=a:5432,b:5433</c>), named
    /// <c>host:port</c>. <c>Target Session Attributes</c> and <c>Load Balance Hosts</c> are dropped: routing decides
    /// per statement.
    /// </summary>
    /// <exception cref="RoutingConfigurationException">The string is invalid or has no host.</exception>
    public static IReadOnlyList<(string Name, string ConnectionString)> SplitHosts(string connectionString)
    {
        if (!TryParse(connectionString, out var csb, out var error))
            throw new RoutingConfigurationException([error!]);
        if (string.IsNullOrWhiteSpace(csb.Host))
            throw new RoutingConfigurationException(["the connection string has no Host."]);
        csb.Remove("Target Session Attributes");
        csb.Remove("Load Balance Hosts");
        var backends = new List<(string, string)>();
        foreach (var entry in csb.Host.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (host, port) = SplitHostPort(entry, csb.Port);
            var one = new NpgsqlConnectionStringBuilder(csb.ConnectionString) { Host = host, Port = port };
            backends.Add((string.Create(CultureInfo.InvariantCulture, $"{host}:{port}"), one.ConnectionString));
        }
        return backends;
    }

    /// <summary>"[::1]:5432", "host:5432", "host", "::1": the host and the port (the default when none is written).</summary>
    public static (string Host, int Port) SplitHostPort(string entry, int defaultPort)
    {
        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf(']', StringComparison.Ordinal);
            if (close > 0)
            {
                var h = entry[1..close];
                return close + 2 < entry.Length && entry[close + 1] == ':' && int.TryParse(entry[(close + 2)..], CultureInfo.InvariantCulture, out var p6) ? (h, p6) : (h, defaultPort);
            }
        }
        var colon = entry.LastIndexOf(':');
        if (colon > 0 && entry.IndexOf(':', StringComparison.Ordinal) == colon && int.TryParse(entry[(colon + 1)..], CultureInfo.InvariantCulture, out var port))
            return (entry[..colon], port);
        return (entry, defaultPort);
    }

    /// <summary>A description without credentials, for <see cref="System.Data.Common.DbDataSource.ConnectionString"/>.</summary>
    public static string Describe(IEnumerable<Backend> backends, string? database, string? username)
    {
        var hosts = string.Join(",", backends.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Host}:{b.Port}")));
        var s = $"Host={hosts}";
        if (!string.IsNullOrEmpty(database))
            s += $";Database={database}";
        if (!string.IsNullOrEmpty(username))
            s += $";Username={username}";
        return s;
    }
}
