using System.Globalization;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// The pid file a server keeps in its own directory (PostgreSQL's <c>postmaster.pid</c>, the harness's
/// <c>etcd.pid</c>). After a crash the file stays behind and its pid may belong to anyone, so the pid is trusted
/// only if that process's command line names the directory.
/// </summary>
internal static class PidFile
{
    /// <summary>PostgreSQL's own pid file in a data directory.</summary>
    public const string Postmaster = "postmaster.pid";

    /// <summary>The pid file the harness's start script writes into an etcd member's directory before it execs etcd.</summary>
    public const string Etcd = "etcd.pid";

    /// <summary>The pid of the live process that <paramref name="directory"/>/<paramref name="fileName"/> names, or null.</summary>
    public static int? FindRunning(string directory, string fileName)
    {
        string? firstLine;
        try
        {
            using var reader = new StreamReader(Path.Combine(directory, fileName));
            firstLine = reader.ReadLine();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        if (!int.TryParse(firstLine, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || !Posix.IsAlive(pid))
        {
            return null;
        }

        var commandLine = Posix.CommandLine(pid);
        return commandLine is not null && commandLine.Contains(directory, StringComparison.Ordinal) ? pid : null;
    }
}
