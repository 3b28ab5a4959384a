namespace RoutingDataSource.Benchmarks.Common;

/// <summary>How a program run by <see cref="ExternalProcess"/> ended: its exit code and its output (stdout and stderr by arrival).</summary>
internal readonly record struct ProcessResult(int ExitCode, string Output)
{
    public bool Succeeded => ExitCode == 0;
}
