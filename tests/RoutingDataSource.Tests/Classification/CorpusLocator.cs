namespace RoutingDataSource.Tests.Classification;

/// <summary>
/// Finds the conformance corpus: <c>$RDS_CORPUS_DIR</c>, else <c>../shared/corpus</c> next to the
/// repository root (the folder holding RoutingDataSource.sln, found by walking up from the test assembly).
/// </summary>
internal static class CorpusLocator
{
    public const string DirectoryVariable = "RDS_CORPUS_DIR";
    public const string VerdictsFile = "pg-regress-verdicts.jsonl";
    public const string VolatilityFile = "pg15-builtin-function-volatility.tsv";

    public static string Directory { get; } = Locate();

    public static string VerdictsPath => Path.Combine(Directory, VerdictsFile);

    public static string VolatilityPath => Path.Combine(Directory, VolatilityFile);

    public static bool IsAvailable => File.Exists(VerdictsPath) && File.Exists(VolatilityPath);

    /// <summary>CI always has the corpus, so there its absence is a failure, never a skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string MissingReason =>
        $"conformance corpus not found: expected {VerdictsFile} and {VolatilityFile} in {Directory} " +
        $"(../shared/corpus beside the repository root; set {DirectoryVariable} to use another folder)";

    private static string Locate()
    {
        string? configured = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RoutingDataSource.sln")))
            {
                return Path.GetFullPath(Path.Combine(directory.FullName, "..", "shared", "corpus"));
            }
        }

        return Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "shared", "corpus"));
    }
}
