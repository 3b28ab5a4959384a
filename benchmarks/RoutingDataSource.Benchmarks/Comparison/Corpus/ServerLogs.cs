using System.Text;
using System.Text.RegularExpressions;

namespace RoutingDataSource.Benchmarks.Comparison.Corpus;

/// <summary>
/// Where statements ran, from the servers' own logs (<c>log_statement = 'all'</c>, each line prefixed with the client's
/// application name, one per corpus file): for each server, the statements each file's connection sent it, in order.
/// </summary>
internal static partial class ServerLogs
{
    /// <summary>The server settings that make the logs say it.</summary>
    public static readonly string[] Settings =
    [
        "log_statement = 'all'",
        "log_line_prefix = '@@%a@@ '",
        "log_min_error_statement = panic",
    ];

    [GeneratedRegex(@"^@@(?<app>[^@]*)@@ (?:LOG|DEBUG\d?):  (?:statement|execute [^:]+): (?<sql>.*)$")]
    private static partial Regex Statement();

    /// <summary>Application name to the statements logged for it, in order.</summary>
    public static Dictionary<string, List<string>> Read(string logPath)
    {
        var byApp = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        StringBuilder? current = null;
        List<string>? target = null;
        void Flush()
        {
            if (current is not null)
                target!.Add(Normalize(current.ToString()));
            current = null;
        }
        using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("@@", StringComparison.Ordinal))
            {
                Flush();
                var m = Statement().Match(line);
                if (!m.Success)
                    continue;
                var app = m.Groups["app"].Value;
                if (!byApp.TryGetValue(app, out target))
                    byApp[app] = target = [];
                current = new StringBuilder(m.Groups["sql"].Value);
            }
            else if (current is not null)
            {
                // The server writes a tab after each newline of a message.
                current.Append('\n').Append(line.StartsWith('\t') ? line.AsSpan(1) : line);
            }
        }
        Flush();
        return byApp;
    }

    /// <summary>A statement as logged and as sent compare with runs of white space as one blank, without a final semicolon.</summary>
    public static string Normalize(string sql) => Blanks().Replace(sql, " ").Trim().TrimEnd(';').Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Blanks();
}
