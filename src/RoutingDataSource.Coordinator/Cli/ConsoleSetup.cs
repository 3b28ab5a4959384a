using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>What the long-running verbs (<c>run</c>, <c>agent</c>) share: reading their JSON file, logging to the console.</summary>
internal static class ConsoleSetup
{
    /// <summary>The file as configuration (then the environment variables with <paramref name="environmentPrefix"/>, if any); null, and why printed, when it is missing or not JSON.</summary>
    public static IConfiguration? ReadJson(FileInfo file, string? environmentPrefix, string who, TextWriter error)
    {
        if (!file.Exists)
        {
            error.WriteLine($"{who}: configuration file {file.FullName} not found.");
            return null;
        }
        try
        {
            var builder = new ConfigurationBuilder().AddJsonFile(file.FullName, optional: false, reloadOnChange: false);
            if (environmentPrefix is not null)
                builder.AddEnvironmentVariables(environmentPrefix);
            return builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or JsonException or IOException)
        {
            error.WriteLine($"{who}: {file.FullName} is not valid JSON: {e.InnerException?.Message ?? e.Message}");
            return null;
        }
    }

    /// <summary>Prints every problem of <paramref name="file"/>; true when there is none.</summary>
    public static bool Report(FileInfo file, IReadOnlyCollection<string> problems, string who, TextWriter error)
    {
        if (problems.Count == 0)
            return true;
        error.WriteLine($"{who}: {file.FullName}: {problems.Count} problem(s):");
        foreach (var p in problems)
            error.WriteLine($"  - {p}");
        return false;
    }

    /// <summary>One line per event, UTC timestamps, Information and up (the framework's own at Warning, its lifetime events at Information).</summary>
    public static ILoggerFactory Logging() => LoggerFactory.Create(b => b
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        })
        .SetMinimumLevel(LogLevel.Information)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information));
}
