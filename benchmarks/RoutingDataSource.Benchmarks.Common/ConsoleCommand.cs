namespace RoutingDataSource.Benchmarks.Common;

/// <summary>
/// The console side of a tool's command: wrong arguments print their message and exit with
/// <see cref="BadArguments"/>; Ctrl-C cancels the token the command runs with instead of killing the process, so
/// that it can stop every server it started.
/// </summary>
internal static class ConsoleCommand
{
    /// <summary>The exit code for arguments that could not be parsed (and for a run that could not start).</summary>
    public const int BadArguments = 2;

    /// <summary>
    /// Parses the settings with <paramref name="parse"/> (which throws <see cref="ArgumentException"/> or
    /// <see cref="FormatException"/> with a message for the user), then runs <paramref name="run"/> until it returns
    /// its exit code.
    /// </summary>
    public static async Task<int> RunAsync<TSettings>(Func<TSettings> parse, Func<TSettings, CancellationToken, Task<int>> run)
    {
        TSettings settings;
        try
        {
            settings = parse();
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return BadArguments;
        }

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await run(settings, cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
