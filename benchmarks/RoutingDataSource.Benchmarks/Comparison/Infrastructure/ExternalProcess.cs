using System.Diagnostics;
using System.Text;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>The outcome of one finished program run.</summary>
internal readonly record struct ProcessResult(int ExitCode, string Output)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Runs external programs (pgbench, psql, pgpool, chown) with bounded time. PostgreSQL tools that must run as the server
/// user do so the way <c>LocalPgCluster</c> runs its servers when this process is root: through <c>setpriv</c> (which
/// changes user and then execs, leaving no wrapper process), else <c>runuser -u postgres --</c>.
/// </summary>
internal static class ExternalProcess
{
    /// <summary>The OS user that servers (and pgpool) run as when this process is root.</summary>
    public const string ServerUser = "postgres";

    private static readonly Lazy<string> SwitchUserProgram = new(() =>
        new[] { "/usr/bin/setpriv", "/bin/setpriv" }.FirstOrDefault(File.Exists) ?? "runuser");

    /// <summary>True when server programs must switch to <see cref="ServerUser"/>.</summary>
    public static bool RunsServersAsOtherUser => Environment.IsPrivilegedProcess;

    /// <summary>
    /// A start info with all standard streams redirected, no libpq environment (a developer's PGPORT must not leak in),
    /// "/" as working directory (the server user may not enter the caller's), optionally as the server user.
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
                startInfo.ArgumentList.Add(argument);
        }

        foreach (var argument in arguments)
            startInfo.ArgumentList.Add(argument);
        foreach (var name in startInfo.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
            startInfo.Environment.Remove(name);
        return startInfo;
    }

    /// <summary>Runs a program to its end (killed after <paramref name="timeout"/>); output is stdout and stderr by arrival.</summary>
    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, bool asServer = false)
    {
        var startInfo = CreateStartInfo(program, arguments, asServer);
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
            throw new InvalidOperationException($"Could not run '{program}': {e.Message}", e);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{Describe(startInfo)}' did not finish within {timeout.TotalSeconds:0.#} s. Output so far:\n{Snapshot(output)}");
        }

        // WaitForExitAsync returns once the output streams are drained too.
        return new ProcessResult(process.ExitCode, Snapshot(output));
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

    /// <summary>The command line, for messages.</summary>
    public static string Describe(ProcessStartInfo startInfo) => string.Join(' ', startInfo.ArgumentList.Prepend(startInfo.FileName));

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
            return;
        lock (output)
            output.AppendLine(line);
    }

    private static string Snapshot(StringBuilder output)
    {
        lock (output)
            return output.ToString();
    }
}
