using System.Globalization;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// The PostgreSQL server programs to use, found in the same order as build.sh:
/// <c>PG_BIN</c>, then <c>pg_config --bindir</c>, then the newest <c>/usr/lib/postgresql/*/bin</c>.
/// </summary>
internal sealed class PgBinaries
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static PgBinaries? _located;

    private PgBinaries(string directory, string version)
    {
        Directory = directory;
        Version = version;
    }

    /// <summary>The bin directory holding postgres, initdb and pg_ctl.</summary>
    public string Directory { get; }

    /// <summary>What <c>postgres --version</c> printed, e.g. "postgres (PostgreSQL) 15.18 (Debian ...)".</summary>
    public string Version { get; }

    public string Postgres => Path.Combine(Directory, "postgres");

    public string InitDb => Path.Combine(Directory, "initdb");

    /// <summary>Locates the binaries once per process.</summary>
    public static async Task<PgBinaries> LocateAsync(CancellationToken cancellationToken)
    {
        if (_located is { } located)
        {
            return located;
        }

        await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_located is null)
            {
                var pgConfigDirectory = await AskPgConfigAsync(cancellationToken).ConfigureAwait(false);
                var directory = Choose(Environment.GetEnvironmentVariable("PG_BIN"), pgConfigDirectory, EnumerateDebianDirectories(), IsServerDirectory)
                    ?? throw new InvalidOperationException(
                        "No PostgreSQL server binaries (postgres and initdb) were found: not in $PG_BIN, not in 'pg_config --bindir', "
                        + "not in /usr/lib/postgresql/*/bin. Install the 'postgresql' package (apt-get install postgresql) "
                        + "or set PG_BIN to the directory that holds postgres, initdb and pg_ctl.");
                var version = await Command.RunAsync(Path.Combine(directory, "postgres"), ["--version"], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
                if (!version.Succeeded)
                {
                    throw new InvalidOperationException($"'{directory}/postgres --version' failed: {version.Output}");
                }

                _located = new PgBinaries(directory, version.Output.Trim());
            }

            return _located;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// The search order, free of I/O but for <paramref name="isServerDirectory"/>: the first
    /// candidate that holds the server programs wins; Debian directories newest version first.
    /// </summary>
    internal static string? Choose(string? pgBin, string? pgConfigBinDirectory, IEnumerable<string> debianDirectories, Func<string, bool> isServerDirectory)
    {
        var newestFirst = debianDirectories
            .Select(d => (Directory: d, Version: ParseVersion(Path.GetFileName(Path.GetDirectoryName(d.TrimEnd('/'))))))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Directory);
        return new[] { pgBin, pgConfigBinDirectory }
            .Concat(newestFirst)
            .FirstOrDefault(d => !string.IsNullOrWhiteSpace(d) && isServerDirectory(d));
    }

    private static Version ParseVersion(string? name) =>
        System.Version.TryParse(name is not null && !name.Contains('.', StringComparison.Ordinal) ? name + ".0" : name, out var v) ? v : new Version(0, 0);

    private static bool IsServerDirectory(string directory) =>
        File.Exists(Path.Combine(directory, "postgres")) && File.Exists(Path.Combine(directory, "initdb"));

    private static IEnumerable<string> EnumerateDebianDirectories()
    {
        const string root = "/usr/lib/postgresql";
        return System.IO.Directory.Exists(root)
            ? System.IO.Directory.EnumerateDirectories(root).Select(d => Path.Combine(d, "bin")).ToList()
            : [];
    }

    private static async Task<string?> AskPgConfigAsync(CancellationToken cancellationToken)
    {
        try
        {
            var result = await Command.RunAsync("pg_config", ["--bindir"], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            return result.Succeeded ? result.Output.Trim() : null;
        }
        catch (InvalidOperationException)
        {
            return null; // pg_config not installed (libpq-dev); fall through to the Debian layout.
        }
    }

    /// <summary>Describes the binaries for messages.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Version} at {Directory}");
}
