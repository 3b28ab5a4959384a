using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Tests.Testing;

/// <summary>What `ps` shows of a cluster, read from /proc.</summary>
internal static class ServerProcesses
{
    /// <summary>The postmasters whose data directory lies in <paramref name="clusterDirectory"/>, and all their children.</summary>
    public static IReadOnlyList<(int Pid, long? Start)> Of(string clusterDirectory)
    {
        var postmasters = Mentioning("-D " + clusterDirectory);
        return postmasters
            .Concat(postmasters.SelectMany(Posix.Descendants))
            .Select(pid => (pid, Posix.StartTime(pid)))
            .ToList();
    }

    /// <summary>Live processes whose command line holds <paramref name="text"/> (servers, their runuser wrappers, the watchdog).</summary>
    public static List<int> Mentioning(string text) =>
        Posix.EnumerateProcessIds()
            .Where(pid => pid != Environment.ProcessId && Posix.IsAlive(pid) && Posix.CommandLine(pid)?.Contains(text, StringComparison.Ordinal) == true)
            .ToList();

    /// <summary>Whether any of <paramref name="processes"/> still runs (the same pid with the same start time).</summary>
    public static bool AnyAlive(IEnumerable<(int Pid, long? Start)> processes) =>
        processes.Any(p => Posix.IsAlive(p.Pid) && Posix.StartTime(p.Pid) == p.Start);
}
