using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// The temporary directory that holds every cluster of this OS user (in /dev/shm when it has
/// room, else in the temp directory), and the naming that lets
/// a later run tell which of them were left behind: each name carries its owner's pid and
/// process start time, so liveness is checked without any lock or marker file.
/// </summary>
internal static partial class WorkArea
{
    private static readonly Lazy<string> LazyRoot = new(CreateRoot);
    private static readonly Lazy<string> LazyOwnerStamp = new(() => StampOf(Environment.ProcessId) ?? $"{Environment.ProcessId}-0");

    /// <summary>The root directory, created on first use.</summary>
    public static string Root => LazyRoot.Value;

    /// <summary>"pid-starttime" of this process.</summary>
    public static string OwnerStamp => LazyOwnerStamp.Value;

    /// <summary>A new, unique cluster directory path (not created).</summary>
    public static string NewClusterDirectory(string? label, string ownerStamp)
    {
        var suffix = string.IsNullOrEmpty(label) ? "" : "-" + Sanitize(label);
        return Path.Combine(Root, $"cluster-{ownerStamp}-{RandomToken()}{suffix}");
    }

    /// <summary>The stamp of any process: "pid-starttime", or null when it is gone.</summary>
    public static string? StampOf(int pid) =>
        Posix.StartTime(pid) is { } start ? string.Create(CultureInfo.InvariantCulture, $"{pid}-{start}") : null;

    /// <summary>A new, unique staging path next to <paramref name="finalPath"/> (not created).</summary>
    public static string NewStagingPath(string finalPath) => $"{finalPath}.tmp-{OwnerStamp}-{RandomToken()}";

    /// <summary>
    /// Whether the process that created the entry <paramref name="name"/> is gone. Names that
    /// were not made by <see cref="NewClusterDirectory"/> or <see cref="NewStagingPath"/> are never stale.
    /// </summary>
    public static bool IsStale(string name)
    {
        var match = OwnerPattern().Match(name);
        if (!match.Success)
        {
            return false;
        }

        var pid = int.Parse(match.Groups["pid"].ValueSpan, CultureInfo.InvariantCulture);
        var start = long.Parse(match.Groups["start"].ValueSpan, CultureInfo.InvariantCulture);
        return Posix.StartTime(pid) != start || !Posix.IsAlive(pid);
    }

    /// <summary>Creates a directory that the server user owns (when it is another user).</summary>
    public static async Task CreateServerDirectoryAsync(string path, CancellationToken cancellationToken)
    {
        if (!Command.RunsServersAsOtherUser)
        {
            Directory.CreateDirectory(path);
            return;
        }

        var result = await Command.RunAsync(
            "install", ["-d", "-o", Command.ServerUser, "-g", Command.ServerUser, "-m", "0755", path],
            TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(
                $"Could not create {path} owned by the '{Command.ServerUser}' OS user, which runs the servers when the tests run as root "
                + $"(install the 'postgresql' package, which creates that user): {result.Output}");
        }
    }

    /// <summary>
    /// Hands a tree written by this (root) process to the server user, so that the servers and
    /// tools such as pg_rewind can rewrite any file in it.
    /// </summary>
    public static async Task GiveToServerUserAsync(string path, CancellationToken cancellationToken)
    {
        if (!Command.RunsServersAsOtherUser)
        {
            return;
        }

        var result = await Command.RunAsync(
            "chown", ["-R", $"{Command.ServerUser}:{Command.ServerUser}", path], TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Could not give {path} to the '{Command.ServerUser}' OS user: {result.Output}");
        }
    }

    /// <summary>Deletes a directory tree, tolerating that it is already (partly) gone.</summary>
    public static void TryDelete(string path)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                // A server that was just killed may still be unlinking its socket or lock files.
                Thread.Sleep(50);
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }

    /// <summary>Lower-case letters, digits and '_' only: safe in file, slot and application names.</summary>
    public static string Sanitize(string text)
    {
        var chars = text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray();
        return new string(chars);
    }

    private static string RandomToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    private static string CreateRoot()
    {
        var name = "rds-pg-" + Sanitize(Environment.UserName);
        foreach (var parent in new[] { MemoryFileSystem(), ChooseTemp() })
        {
            if (parent is null)
            {
                continue;
            }

            var root = Path.Combine(parent, name);
            try
            {
                Directory.CreateDirectory(root);
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (Command.RunsServersAsOtherUser && !OperatingSystem.IsWindows())
            {
                // The server user must be able to reach its data directories through this one.
                File.SetUnixFileMode(root, File.GetUnixFileMode(root) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead);
            }

            return root;
        }

        throw new InvalidOperationException($"Could not create a work directory '{name}' in /dev/shm or in {Path.GetTempPath()}.");
    }

    // Copying a data directory to tmpfs takes a tenth of the time it takes on a busy disk, and
    // these servers run with fsync off anyway. Used only when there is ample room (Docker's
    // default /dev/shm is 64 MB).
    private static string? MemoryFileSystem()
    {
        const string shm = "/dev/shm";
        try
        {
            return Directory.Exists(shm) && new DriveInfo(shm).AvailableFreeSpace >= 1L << 30 ? shm : null;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // As root, a TMPDIR under /root would be unreachable for the server user: fall back to /tmp.
    private static string ChooseTemp()
    {
        var temp = Path.GetFullPath(Path.GetTempPath());
        if (!Command.RunsServersAsOtherUser)
        {
            return temp;
        }

        for (var dir = new DirectoryInfo(temp); dir is not null; dir = dir.Parent)
        {
            if (!dir.Exists || (dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
            {
                return "/tmp";
            }
        }

        return temp;
    }

    [GeneratedRegex(@"(?:^cluster-|\.tmp-)(?<pid>\d+)-(?<start>\d+)-", RegexOptions.CultureInvariant)]
    private static partial Regex OwnerPattern();
}
