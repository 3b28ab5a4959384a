using System.Globalization;

namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>The <c>primary_conninfo</c> template: its checks and its rendering for one standby and one primary.</summary>
internal static class ReplicationConnInfo
{
    private static readonly string[] Known = ["host", "port", "name"];

    public static IEnumerable<string> Problems(string? template)
    {
        if (string.IsNullOrWhiteSpace(template))
        {
            yield return "ReplicationConnInfo is required, e.g. \"host={host} port={port} user=replicator application_name={name}\".";
            yield break;
        }
        var used = Placeholders.Find(template, out var error);
        if (error is not null)
            yield return $"ReplicationConnInfo: {error}.";
        foreach (var p in used.Distinct(StringComparer.Ordinal))
        {
            if (!Known.Contains(p, StringComparer.Ordinal))
                yield return $"ReplicationConnInfo: unknown placeholder {{{p}}} (known: {{host}}, {{port}}, {{name}}).";
        }
        foreach (var k in Known)
        {
            if (!used.Contains(k, StringComparer.Ordinal))
            {
                yield return k == "name"
                    ? "ReplicationConnInfo must set application_name={name}: synchronous_standby_names and pg_stat_replication know standbys by it."
                    : $"ReplicationConnInfo must contain {{{k}}} (the new primary's {k}).";
            }
        }
    }

    /// <summary>The conninfo for standby <paramref name="standby"/> to stream from <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static string Render(string template, string host, int port, string standby) =>
        Placeholders.Substitute(template, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["host"] = host,
            ["port"] = port.ToString(CultureInfo.InvariantCulture),
            ["name"] = standby,
        }, QuoteValue);

    /// <summary>A libpq keyword value: quoted when it holds spaces, quotes or backslashes, or is empty.</summary>
    public static string QuoteValue(string value)
    {
        if (value.Length > 0 && !value.Any(c => char.IsWhiteSpace(c) || c is '\'' or '\\'))
            return value;
        return "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
    }
}
