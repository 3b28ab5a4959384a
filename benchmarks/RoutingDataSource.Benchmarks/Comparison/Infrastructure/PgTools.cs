using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>
/// The PostgreSQL client programs (pgbench, psql) that belong to the running servers: found beside the server binary
/// of a live node (/proc/PID/exe), so they match its version, else in the directories LocalPgCluster searches.
/// </summary>
internal sealed class PgTools
{
    private PgTools(string directory) => Directory = directory;

    public string Directory { get; }

    public string Pgbench => Path.Combine(Directory, "pgbench");

    public string Psql => Path.Combine(Directory, "psql");

    public static PgTools Beside(LocalPgNode node)
    {
        var candidates = new List<string?>();
        if (node.ProcessId is { } pid)
        {
            try
            {
                candidates.Add(Path.GetDirectoryName(new FileInfo($"/proc/{pid}/exe").ResolveLinkTarget(returnFinalTarget: true)?.FullName));
            }
            catch (IOException)
            {
                // Not allowed to read the link (not root, other user): fall back to the search order.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        candidates.Add(Environment.GetEnvironmentVariable("PG_BIN"));
        if (System.IO.Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(System.IO.Directory.EnumerateDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => Version.TryParse(Path.GetFileName(d) + ".0", out var v) ? v : new Version(0, 0))
                .Select(d => Path.Combine(d, "bin")));
        }

        var found = candidates.FirstOrDefault(d => d is not null && File.Exists(Path.Combine(d, "pgbench")) && File.Exists(Path.Combine(d, "psql")))
            ?? throw new InvalidOperationException("pgbench and psql were not found beside the server binaries nor in $PG_BIN or /usr/lib/postgresql/*/bin.");
        return new PgTools(found);
    }
}
