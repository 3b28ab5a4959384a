using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Chaos;
using RoutingDataSource.Chaos.Results;

// ./build.sh chaos [faults] [seed]: the soak of issue 18. Exit code 1 when a write was lost, a failed write is present
// anyway (a phantom) or a write failed with a raw exception; 2 when the soak itself could not run.
var root = Repository.Root();
return await ConsoleCommand.RunAsync(() => ChaosSettings.Parse(args, root), SoakAsync);

async Task<int> SoakAsync(ChaosSettings settings, CancellationToken cancellationToken)
{
    ChaosReport report;
    try
    {
        report = await ChaosRun.RunAsync(settings, Console.Out, cancellationToken);
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        await Console.Error.WriteLineAsync("chaos: cancelled (every server it started has been stopped)");
        return 130;
    }
    catch (Exception e)
    {
        await Console.Error.WriteLineAsync($"chaos: the soak could not run: {e}");
        return 2;
    }

    Console.WriteLine();
    Console.WriteLine(ResultsWriter.FaultTable(report));
    Console.WriteLine(report.Check.Line());
    foreach (var t in report.Targets)
        Console.WriteLine($"target {(t.Met ? "met   " : "MISSED")} {t.Name}: {t.Requirement}; measured {t.Measured}");
    if (settings.ResultsDirectory is { } results)
    {
        var md = ResultsWriter.Write(report, results);
        Console.WriteLine($"results: {Path.GetRelativePath(root, md)} (+ .json); seed {report.Seed}; again with: {report.Reproduce}");
    }

    if (report.HarnessError is { } harness)
        Console.WriteLine($"harness error: {harness}");
    return report.Failed ? 1 : report.HarnessError is null ? 0 : 2;
}
