using RoutingDataSource.Benchmarks.Comparison.Corpus;

namespace RoutingDataSource.Benchmarks.Tests;

/// <summary>The corpus replay's results files: a second run of the same day must not overwrite the first's.</summary>
public sealed class CorpusReportTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("corpus-report-").FullName;

    [Fact]
    public void A_second_run_on_the_same_day_writes_new_files_and_keeps_the_first_runs()
    {
        var first = Report(inducedErrors: 1).Write(_directory);
        var second = Report(inducedErrors: 0).Write(_directory);

        Assert.NotEqual(first, second);
        Assert.EndsWith("-2.md", second, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.ChangeExtension(second, ".json")));
        Assert.Contains("| 0 | 0.500 (1/2) | 1 |", File.ReadAllText(first), StringComparison.Ordinal);
        Assert.Contains("| 0 | 0.500 (1/2) | 0 |", File.ReadAllText(second), StringComparison.Ordinal);
    }

    private static CorpusReport Report(int inducedErrors) => new(
        "test", new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero), [0, 0, 0], "corpus.jsonl", 3, 2, 1,
        [Figures(CorpusSystem.Primary, 0), Figures(CorpusSystem.RoutingDataSource, inducedErrors)]);

    private static SystemFigures Figures(CorpusSystem system, int inducedErrors) =>
        new(system, 0, 2, 1, 0.5, inducedErrors, inducedErrors, 0, 0, 0, [], [], [], [], 0, 0);

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
