using System.Globalization;

namespace RoutingDataSource.Benchmarks.Common;

/// <summary>Names a run's results files (<c>.md</c> and <c>.json</c>) so that no earlier result is overwritten.</summary>
internal static class ResultsFiles
{
    /// <summary>
    /// <paramref name="name"/> when neither <c>name.md</c> nor <c>name.json</c> exists in <paramref name="directory"/>,
    /// else the first free of <c>name-2</c>, <c>name-3</c>...
    /// </summary>
    public static string FreeBaseName(string directory, string name)
    {
        var baseName = name;
        for (var n = 2; Taken(baseName); n++)
            baseName = string.Create(CultureInfo.InvariantCulture, $"{name}-{n}");
        return baseName;

        bool Taken(string candidate) =>
            File.Exists(Path.Combine(directory, candidate + ".md")) || File.Exists(Path.Combine(directory, candidate + ".json"));
    }
}
