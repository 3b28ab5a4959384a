using System.Diagnostics;
using System.Text;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>The end of one PostgreSQL program: its exit code and its output (stdout and stderr interleaved).</summary>
internal readonly record struct ProgramResult(int ExitCode, string Output)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The last lines of the output, for a step's report.</summary>
    public string Tail(int lines = 8)
    {
        var all = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" | ", all.TakeLast(lines));
    }
}

/// <summary>Runs a program of the server's binary directory directly (no shell), bounded, with a clean libpq environment.</summary>
internal static class ProgramRun
{
    public static async Task<ProgramResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        // Only the order's own connection strings count: no PGHOST or PGPASSWORD of whoever started the agent.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal) && k != "PGPASSFILE").ToArray())
            start.Environment.Remove(key);
        start.Environment.Remove("ROUTING_AGENT_TOKEN");
        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            ct.ThrowIfCancellationRequested();
            return new ProgramResult(-1, $"{Path.GetFileName(program)} did not finish within {timeout.TotalSeconds:0} s: {Snapshot()}");
        }
        process.WaitForExit();
        return new ProgramResult(process.ExitCode, Snapshot());

        void Append(string? line)
        {
            if (line is null)
                return;
            lock (output)
                output.Append(line).Append('\n');
        }

        string Snapshot()
        {
            lock (output)
                return output.ToString();
        }
    }
}
