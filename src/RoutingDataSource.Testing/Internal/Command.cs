using System.Diagnostics;
using System.Text;

namespace RoutingDataSource.Testing.Internal;

/// <summary>The outcome of one finished command.</summary>
internal readonly record struct CommandResult(int ExitCode, string Output)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Runs external programs (initdb, cp, the postmaster) with bounded time. PostgreSQL refuses to
/// run as root, so when this process is root every server command runs as the postgres OS
/// user: through <c>setpriv</c>, which changes user and then execs the program, or, where it
/// is missing, <c>runuser -u postgres --</c>.
/// </summary>
/// <remarks>
/// setpriv is preferred because it leaves no wrapper process: runuser forks, waits, and stops
/// itself whenever its child is stopped (as su does for job control), so a frozen and thawed
/// postmaster would leave a stopped runuser behind; and the postmaster as a direct child of this
/// process is reaped by it.
/// </remarks>
internal static class Command
{
    /// <summary>The OS user that servers run as when this process is root.</summary>
    public const string ServerUser = "postgres";

    private static readonly Lazy<string> SwitchUserProgram = new(() =>
        new[] { "/usr/bin/setpriv", "/bin/setpriv" }.FirstOrDefault(File.Exists) ?? "runuser");

    /// <summary>True when server commands must switch to <see cref="ServerUser"/>.</summary>
    public static bool RunsServersAsOtherUser => Environment.IsPrivilegedProcess;

    /// <summary>Runs a PostgreSQL program as the server user; output is stdout and stderr interleaved by arrival.</summary>
    public static Task<CommandResult> RunAsServerAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken) =>
        RunAsync(CreateStartInfo(program, arguments, asServer: true), timeout, cancellationToken);

    /// <summary>Runs a program as this process's user; output is stdout and stderr interleaved by arrival.</summary>
    public static Task<CommandResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken) =>
        RunAsync(CreateStartInfo(program, arguments, asServer: false), timeout, cancellationToken);

    private static async Task<CommandResult> RunAsync(ProcessStartInfo startInfo, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var output = new StringBuilder();
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Could not run '{startInfo.FileName}': {e.Message}", e);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{Describe(startInfo)}' did not finish within {timeout.TotalSeconds:0.#} s. Output so far:\n{Snapshot(output)}");
        }

        return new CommandResult(process.ExitCode, Snapshot(output));
    }

    /// <summary>
    /// A start info with all three standard streams redirected (a long-lived child must not hold
    /// the test host's own stdout), no libpq environment, and "/" as working directory (servers
    /// run as another user who may not be allowed into the caller's).
    /// </summary>
    public static ProcessStartInfo CreateStartInfo(string program, IEnumerable<string> arguments, bool asServer)
    {
        var switchUser = asServer && RunsServersAsOtherUser;
        var startInfo = new ProcessStartInfo(switchUser ? SwitchUserProgram.Value : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (switchUser)
        {
            string[] prefix = SwitchUserProgram.Value == "runuser"
                ? ["-u", ServerUser, "--", program]
                : ["--reuid", ServerUser, "--regid", ServerUser, "--init-groups", "--", program];
            foreach (var argument in prefix)
            {
                startInfo.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        RemoveLibpqEnvironment(startInfo);
        return startInfo;
    }

    /// <summary>The command line for messages.</summary>
    public static string Describe(ProcessStartInfo startInfo) =>
        string.Join(' ', startInfo.ArgumentList.Prepend(startInfo.FileName));

    // A developer's PGPORT, PGHOST or PGOPTIONS must not leak into the servers (or their walreceivers).
    private static void RemoveLibpqEnvironment(ProcessStartInfo startInfo)
    {
        foreach (var name in startInfo.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            startInfo.Environment.Remove(name);
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Snapshot(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
