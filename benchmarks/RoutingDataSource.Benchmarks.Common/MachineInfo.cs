using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Npgsql;

namespace RoutingDataSource.Benchmarks.Common;

/// <summary>
/// What a run was measured on, and with which versions: the facts every tool records, plus the
/// <see cref="Components"/> a tool adds of its own (Pgpool-II, BenchmarkDotNet, ...). In a results file's JSON the
/// components stand among the other fields, before <see cref="GitCommit"/>.
/// </summary>
[JsonConverter(typeof(MachineInfoJsonConverter))]
internal sealed record MachineInfo
{
    public required string HostName { get; init; }
    public required int Cores { get; init; }
    public required string CpuModel { get; init; }
    public required double MemoryGiB { get; init; }
    public required string OperatingSystem { get; init; }
    public required string DotNet { get; init; }
    public required string Npgsql { get; init; }
    public required string PostgreSql { get; init; }
    public IReadOnlyList<MachineComponent> Components { get; init; } = [];
    public required string GitCommit { get; init; }

    /// <summary>Cores, CPU, memory and operating system, as one phrase.</summary>
    public string Hardware() => string.Create(CultureInfo.InvariantCulture,
        $"{Cores} cores ({CpuModel}), {MemoryGiB:0.#} GiB, {OperatingSystem}");

    /// <summary>The version of the component <paramref name="name"/> that the tool added.</summary>
    public string Component(string name) =>
        Components.FirstOrDefault(c => c.Name == name)?.Version ?? throw new KeyNotFoundException($"No component '{name}' was recorded.");

    /// <summary>
    /// Reads this machine's facts. <paramref name="repositoryRoot"/> gives the git commit ("unknown" without it);
    /// <paramref name="kernelInOperatingSystem"/> appends the kernel release to the distribution's name.
    /// </summary>
    public static async Task<MachineInfo> DescribeAsync(string? repositoryRoot, string postgreSql, IReadOnlyList<MachineComponent> components,
        bool kernelInOperatingSystem, CancellationToken cancellationToken) =>
        new()
        {
            HostName = Environment.MachineName,
            Cores = Environment.ProcessorCount,
            CpuModel = ReadField("/proc/cpuinfo", "model name") ?? "unknown CPU",
            MemoryGiB = Math.Round(MemoryKiB() / (1024.0 * 1024.0), 1),
            OperatingSystem = OperatingSystemName(kernelInOperatingSystem),
            DotNet = RuntimeInformation.FrameworkDescription,
            Npgsql = VersionOf(typeof(NpgsqlConnection)),
            PostgreSql = postgreSql,
            Components = components,
            GitCommit = await GitCommitAsync(repositoryRoot, cancellationToken),
        };

    /// <summary>The product version of <paramref name="type"/>'s assembly, without the "+commit" source-link suffix.</summary>
    public static string VersionOf(Type type)
    {
        var info = FileVersionInfo.GetVersionInfo(type.Assembly.Location);
        var version = info.ProductVersion ?? type.Assembly.GetName().Version?.ToString() ?? "?";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg); NaN when unknown.</summary>
    public static (double One, double Five, double Fifteen) LoadAverage()
    {
        try
        {
            var f = File.ReadAllText("/proc/loadavg").Split(' ');
            return (double.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[1], CultureInfo.InvariantCulture), double.Parse(f[2], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (double.NaN, double.NaN, double.NaN);
        }
    }

    private static async Task<string> GitCommitAsync(string? repositoryRoot, CancellationToken cancellationToken)
    {
        if (repositoryRoot is null)
            return "unknown";
        var head = await ExternalProcess.RunAsync("git", ["-C", repositoryRoot, "rev-parse", "--short=12", "HEAD"], TimeSpan.FromSeconds(10), cancellationToken);
        if (!head.Succeeded)
            return "unknown";
        var dirty = await ExternalProcess.RunAsync("git", ["-C", repositoryRoot, "status", "--porcelain", "--untracked-files=no"], TimeSpan.FromSeconds(10), cancellationToken);
        return head.Output.Trim() + (dirty.Succeeded && dirty.Output.Trim().Length > 0 ? " (with uncommitted changes)" : "");
    }

    private static string OperatingSystemName(bool withKernel)
    {
        var name = (ReadField("/etc/os-release", "PRETTY_NAME", '=') ?? RuntimeInformation.OSDescription).Trim('"');
        if (!withKernel)
            return name;
        string kernel;
        try
        {
            kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            kernel = "?";
        }

        return $"{name}, kernel {kernel}";
    }

    private static string? ReadField(string path, string name, char separator = ':')
    {
        try
        {
            return File.ReadLines(path)
                .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Contains(separator, StringComparison.Ordinal))
                .Select(l => l[(l.IndexOf(separator, StringComparison.Ordinal) + 1)..].Trim())
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static long MemoryKiB() =>
        ReadField("/proc/meminfo", "MemTotal") is { } v && long.TryParse(v.Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib : 0;
}

/// <summary>A program or library a tool records the version of (<c>Name</c> becomes the JSON field's name).</summary>
internal sealed record MachineComponent(string Name, string Version);
