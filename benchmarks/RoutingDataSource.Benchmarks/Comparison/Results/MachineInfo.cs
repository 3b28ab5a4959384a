using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;

namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>What the figures were measured on, and with which versions.</summary>
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
    public required string Pgpool { get; init; }
    public required string BenchmarkDotNet { get; init; }
    public required string RoutingDataSource { get; init; }
    public required string GitCommit { get; init; }

    public static async Task<MachineInfo> DescribeAsync(string repositoryRoot, string postgreSqlVersion, CancellationToken cancellationToken)
    {
        string pgpool;
        try
        {
            pgpool = await PgpoolInstance.VersionAsync(cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            pgpool = "not found: " + e.Message;
        }

        var commit = await ExternalProcess.RunAsync("git", ["-C", repositoryRoot, "rev-parse", "--short=12", "HEAD"], TimeSpan.FromSeconds(10), cancellationToken);
        var dirty = await ExternalProcess.RunAsync("git", ["-C", repositoryRoot, "status", "--porcelain", "--untracked-files=no"], TimeSpan.FromSeconds(10), cancellationToken);
        return new MachineInfo
        {
            HostName = Environment.MachineName,
            Cores = Environment.ProcessorCount,
            CpuModel = ProcFs.CpuModel(),
            MemoryGiB = Math.Round(ProcFs.MemoryBytes() / (double)(1L << 30), 1),
            OperatingSystem = ProcFs.OperatingSystem(),
            DotNet = RuntimeInformation.FrameworkDescription,
            Npgsql = VersionOf(typeof(NpgsqlConnection)),
            PostgreSql = postgreSqlVersion,
            Pgpool = pgpool,
            BenchmarkDotNet = VersionOf(typeof(BenchmarkDotNet.Running.BenchmarkRunner)),
            RoutingDataSource = VersionOf(typeof(PgRoutingDataSource)),
            GitCommit = commit.Succeeded ? commit.Output.Trim() + (dirty.Succeeded && dirty.Output.Trim().Length > 0 ? " (with uncommitted changes)" : "") : "unknown",
        };
    }

    private static string VersionOf(Type type)
    {
        var info = FileVersionInfo.GetVersionInfo(type.Assembly.Location);
        var version = info.ProductVersion ?? type.Assembly.GetName().Version?.ToString() ?? "?";
        // Drop the "+commit" source-link suffix.
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Cores} cores ({CpuModel}), {MemoryGiB:0.#} GiB, {OperatingSystem}");
}
