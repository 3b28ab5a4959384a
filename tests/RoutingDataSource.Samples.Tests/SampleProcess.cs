using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace RoutingDataSource.Samples.Tests;

/// <summary>
/// A sample app run as a child process (<c>dotnet Sample.dll --urls http://127.0.0.1:0</c>) from its own build output,
/// as a user would run it. Its output is kept for diagnostics; disposing kills it and its children.
/// </summary>
internal sealed partial class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SampleProcess(Process process) => _process = process;

    public Uri BaseAddress => _listening.Task.Result;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>Starts the sample and waits until Kestrel says where it listens.</summary>
    public static async Task<SampleProcess> StartAsync(string sample, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var dll = SamplePath(sample);
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("--urls");
        psi.ArgumentList.Add("http://127.0.0.1:0"); // loopback only; Kestrel picks a free port and logs it
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        psi.Environment.Remove("ASPNETCORE_URLS");
        foreach (var (key, value) in environment)
            psi.Environment[key] = value;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var sampleProcess = new SampleProcess(process);
        process.OutputDataReceived += (_, e) => sampleProcess.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => sampleProcess.OnLine(e.Data);
        process.Exited += (_, _) => sampleProcess._listening.TrySetException(new InvalidOperationException($"{sample} exited before listening:\n{sampleProcess.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await sampleProcess._listening.Task.WaitAsync(cancellationToken);
        }
        catch
        {
            await sampleProcess.DisposeAsync();
            throw;
        }
        return sampleProcess;
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
        if (ListeningOn().Match(line) is { Success: true } m)
            _listening.TrySetResult(new Uri(m.Groups[1].Value));
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();

    /// <summary>samples/NAME/bin/CONFIGURATION/TFM/NAME.dll, for the configuration and framework this test was built with.</summary>
    private static string SamplePath(string sample)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = testBin.Name;
        var configuration = testBin.Parent!.Name;
        var root = testBin;
        for (var i = 0; i < 10 && root is not null && !File.Exists(Path.Combine(root.FullName, "RoutingDataSource.sln")); i++)
            root = root.Parent;
        if (root is null || !File.Exists(Path.Combine(root.FullName, "RoutingDataSource.sln")))
            throw new InvalidOperationException($"RoutingDataSource.sln not found above {AppContext.BaseDirectory}");
        var dll = Path.Combine(root.FullName, "samples", sample, "bin", configuration, tfm, sample + ".dll");
        return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is missing: build samples/{sample} ({configuration}) first.");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // Never started, or already gone: nothing left to stop.
        }
        _process.Dispose();
    }
}
