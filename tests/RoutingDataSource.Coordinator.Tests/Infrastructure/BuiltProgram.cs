using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>
/// The built coordinator program (<c>dotnet RoutingDataSource.Coordinator.dll ...</c>, what the dotnet tool runs),
/// from the Coordinator project's own output of the same configuration; every process is killed on disposal.
/// </summary>
internal sealed class BuiltProgram : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private BuiltProgram(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string DllPath { get; } = Locate();

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a long-running command (the daemon); kill it with <see cref="Dispose"/>.</summary>
    public static BuiltProgram Start(params string[] args) => new(Process.Start(StartInfo(args))!);

    /// <summary>Runs a short command to its end (bounded) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var program = Start(args);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await program._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"routing-coordinator {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s:\n{program.Output}");
        }
        program._process.WaitForExit(); // drains the redirected output
        return (program._process.ExitCode, program.Output);
    }

    /// <summary>A TCP port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    private static ProcessStartInfo StartInfo(string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment.Remove("ROUTING_COORDINATOR_URL");
        start.Environment.Remove("ROUTING_COORDINATOR_TOKEN");
        return start;
    }

    private static string Locate()
    {
        // tests/RoutingDataSource.Coordinator.Tests/bin/<Configuration>/<tfm>/
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = here.Name;
        var configuration = here.Parent!.Name;
        for (var d = here; d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "src", "RoutingDataSource.Coordinator", "bin", configuration, tfm, "RoutingDataSource.Coordinator.dll");
            if (File.Exists(candidate))
                return candidate;
        }
        // The build also copies the referenced program (with its runtimeconfig) next to the tests.
        return Path.Combine(AppContext.BaseDirectory, "RoutingDataSource.Coordinator.dll");
    }
}
