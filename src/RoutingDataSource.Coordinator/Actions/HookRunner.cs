using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Diagnostics;

namespace RoutingDataSource.Coordinator.Actions;

/// <summary>
/// Runs hook commands in the background with a timeout (the process tree is killed past it). A hook's failure is
/// logged and never blocks or fails the operation that triggered it.
/// </summary>
internal sealed class HookRunner(TimeSpan timeout, ILogger logger) : IAsyncDisposable
{
    private const int OutputLimit = 2000;

    /// <summary>The only variables of the coordinator's environment a hook inherits.</summary>
    internal static readonly string[] InheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Starts <paramref name="command"/> (if any) and returns at once; the task completes when the hook has ended.</summary>
    public Task Start(string hook, string? command, IReadOnlyDictionary<string, string> values)
    {
        if (command is null || !HookCommand.TryParse(command, out var parsed, out _))
            return Task.CompletedTask;
        var task = Task.Run(() => RunAsync(hook, parsed!, values));
        _running.TryAdd(task, 0);
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    private async Task RunAsync(string hook, HookCommand command, IReadOnlyDictionary<string, string> values)
    {
        var words = command.Render(values);
        var start = new ProcessStartInfo(words[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var w in words.Skip(1))
            start.ArgumentList.Add(w);
        // The coordinator's environment may hold its API token and passwords (ROUTING_COORDINATOR_*, PGPASSWORD): a
        // hook gets only what a program needs to run, and its values.
        start.Environment.Clear();
        foreach (var name in InheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } inherited)
                start.Environment[name] = inherited;
        }
        foreach (var (key, value) in values)
            start.Environment["RDS_" + key.ToUpperInvariant()] = value;
        var clock = Stopwatch.StartNew();
        try
        {
            using var process = Process.Start(start)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Log.HookTimedOut(logger, hook, words[0], (long)timeout.TotalMilliseconds);
                return;
            }
            var output = Trim((await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false)));
            if (process.ExitCode == 0)
                Log.HookSucceeded(logger, hook, words[0], clock.ElapsedMilliseconds, output);
            else
                Log.HookFailed(logger, hook, words[0], $"exit code {process.ExitCode}", output);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            Log.HookFailed(logger, hook, words[0], e.Message, "");
        }
    }

    private static string Trim(string output)
    {
        output = output.Trim();
        return output.Length <= OutputLimit ? output : "..." + output[^OutputLimit..];
    }

    /// <summary>Waits for running hooks (each is bounded by its timeout).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Task.WhenAll(_running.Keys).WaitAsync(timeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
