using System.Diagnostics;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Benchmarks.Common;

/// <summary>
/// Runs external programs (pgbench, psql, pgpool, chown, git, stat) with bounded time, through the same
/// <see cref="Command"/> that <c>LocalPgCluster</c> runs its servers with: PostgreSQL tools that must run as the server
/// user switch to it when this process is root (<c>setpriv</c>, else <c>runuser -u postgres --</c>), no libpq
/// environment leaks in, and output is stdout and stderr by arrival.
/// </summary>
internal static class ExternalProcess
{
    /// <summary>The OS user that servers (and pgpool) run as when this process is root.</summary>
    public const string ServerUser = Command.ServerUser;

    /// <summary>True when server programs must switch to <see cref="ServerUser"/>.</summary>
    public static bool RunsServersAsOtherUser => Command.RunsServersAsOtherUser;

    /// <summary>A start info for a long-lived program (see <see cref="Command.CreateStartInfo"/>).</summary>
    public static ProcessStartInfo CreateStartInfo(string program, IEnumerable<string> arguments, bool asServer) =>
        Command.CreateStartInfo(program, arguments, asServer);

    /// <summary>Runs a program to its end (killed after <paramref name="timeout"/>); output is stdout and stderr by arrival.</summary>
    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, bool asServer = false)
    {
        var result = asServer
            ? await Command.RunAsServerAsync(program, arguments, timeout, cancellationToken)
            : await Command.RunAsync(program, arguments, timeout, cancellationToken);
        return new ProcessResult(result.ExitCode, result.Output);
    }

    /// <summary>Runs a program and returns its trimmed output, or throws with the output when it fails.</summary>
    public static async Task<string> OutputOfAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, bool asServer = false)
    {
        var result = await RunAsync(program, arguments, timeout, cancellationToken, asServer);
        if (!result.Succeeded)
            throw new InvalidOperationException($"'{program} {string.Join(' ', arguments)}' exited with {result.ExitCode}:\n{result.Output}");
        return result.Output.Trim();
    }

    /// <summary>Hands a directory tree to the server user (when servers run as another user).</summary>
    public static async Task GiveToServerUserAsync(string path, CancellationToken cancellationToken)
    {
        if (!RunsServersAsOtherUser)
            return;
        await OutputOfAsync("chown", ["-R", $"{ServerUser}:{ServerUser}", path], TimeSpan.FromSeconds(30), cancellationToken);
    }
}
