using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;
using RoutingDataSource.Chaos.Cluster;

namespace RoutingDataSource.Chaos.Results;

/// <summary>What the soak ran on, and with which versions.</summary>
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
    public required string GitCommit { get; init; }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{HostName}: {Cores} cores ({CpuModel}), {MemoryGiB:0.#} GiB, {OperatingSystem}; {DotNet}; Npgsql {Npgsql}; {PostgreSql}; commit {GitCommit}");

    public static async Task<MachineInfo> DescribeAsync(string? repositoryRoot, string postgreSql, CancellationToken cancellationToken)
    {
        var commit = "unknown";
        if (repositoryRoot is not null)
        {
            var (code, head) = await ExternalProgram.RunAsync("git", ["-C", repositoryRoot, "rev-parse", "--short=12", "HEAD"], TimeSpan.FromSeconds(10), cancellationToken);
            var (_, dirty) = await ExternalProgram.RunAsync("git", ["-C", repositoryRoot, "status", "--porcelain", "--untracked-files=no"], TimeSpan.FromSeconds(10), cancellationToken);
            if (code == 0)
                commit = head.Trim() + (dirty.Trim().Length > 0 ? " (with uncommitted changes)" : "");
        }

        return new MachineInfo
        {
            HostName = Environment.MachineName,
            Cores = Environment.ProcessorCount,
            CpuModel = ReadField("/proc/cpuinfo", "model name") ?? "unknown CPU",
            MemoryGiB = Math.Round(MemoryKiB() / (1024.0 * 1024.0), 1),
            OperatingSystem = (ReadField("/etc/os-release", "PRETTY_NAME", '=') ?? RuntimeInformation.OSDescription).Trim('"'),
            DotNet = RuntimeInformation.FrameworkDescription,
            Npgsql = FileVersionInfo.GetVersionInfo(typeof(NpgsqlConnection).Assembly.Location).ProductVersion?.Split('+')[0] ?? "?",
            PostgreSql = postgreSql,
            GitCommit = commit,
        };
    }

    /// <summary>The 1-minute load average (/proc/loadavg); NaN when unknown.</summary>
    public static double LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return double.NaN;
        }
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
