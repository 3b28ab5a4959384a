using RoutingDataSource.Benchmarks.Comparison.Pgpool;
using RoutingDataSource.Benchmarks.Common;

namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>What the figures were measured on: the shared machine facts plus Pgpool-II's, BenchmarkDotNet's and this library's versions.</summary>
internal static class BenchMachine
{
    private const string PgpoolComponent = "Pgpool";
    private const string BenchmarkDotNetComponent = "BenchmarkDotNet";
    private const string RoutingDataSourceComponent = "RoutingDataSource";

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

        return await MachineInfo.DescribeAsync(repositoryRoot, postgreSqlVersion,
            [
                new(PgpoolComponent, pgpool),
                new(BenchmarkDotNetComponent, MachineInfo.VersionOf(typeof(BenchmarkDotNet.Running.BenchmarkRunner))),
                new(RoutingDataSourceComponent, MachineInfo.VersionOf(typeof(PgRoutingDataSource))),
            ],
            kernelInOperatingSystem: true, cancellationToken);
    }

    /// <summary>The output of <c>pgpool --version</c>, or why there was none.</summary>
    public static string Pgpool(this MachineInfo machine) => machine.Component(PgpoolComponent);

    public static string BenchmarkDotNet(this MachineInfo machine) => machine.Component(BenchmarkDotNetComponent);

    public static string RoutingDataSource(this MachineInfo machine) => machine.Component(RoutingDataSourceComponent);
}
