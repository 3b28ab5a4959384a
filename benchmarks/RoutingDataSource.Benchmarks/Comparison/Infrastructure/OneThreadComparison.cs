using System.Globalization;
using RoutingDataSource.Benchmarks.Comparison.Results;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>
/// Two synchronous operations (a baseline and a candidate) run on one dedicated thread, alternating in rounds; per
/// operation the CPU of that thread alone (getrusage <c>RUSAGE_THREAD</c>) and the bytes it allocated. Neither the
/// thread pool's spinning nor other processes' load enters, only the work on the operation's own path (and the cache
/// misses load causes): a tool for before/after on one change, not a throughput figure.
/// </summary>
internal static class OneThreadComparison
{
    /// <summary>Runs both, <paramref name="warmup"/> times each first, and returns the line that reports them.</summary>
    public static string Run((string Key, Action Run) baseline, (string Key, Action Run) candidate, int rounds, int operations, int warmup)
    {
        string? line = null;
        var thread = new Thread(() => line = Measure(baseline, candidate, rounds, operations, warmup));
        thread.Start();
        thread.Join();
        return line!;
    }

    private static string Measure((string Key, Action Run) baseline, (string Key, Action Run) candidate, int rounds, int operations, int warmup)
    {
        (string Key, Action Run)[] systems = [baseline, candidate];
        foreach (var (_, run) in systems)
        {
            for (var i = 0; i < warmup; i++)
                run();
        }
        var cpu = systems.ToDictionary(s => s.Key, _ => new List<double>());
        var bytes = systems.ToDictionary(s => s.Key, _ => new List<double>());
        var diffs = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            var round = new Dictionary<string, double>();
            foreach (var (key, run) in r % 2 == 0 ? systems : systems.Reverse().ToArray())
            {
                var a0 = GC.GetAllocatedBytesForCurrentThread();
                var t0 = ResourceUsage.ThreadCpu();
                for (var i = 0; i < operations; i++)
                    run();
                var us = (ResourceUsage.ThreadCpu() - t0).TotalMicroseconds / operations;
                bytes[key].Add((GC.GetAllocatedBytesForCurrentThread() - a0) / (double)operations);
                cpu[key].Add(us);
                round[key] = us;
            }
            diffs.Add(round[candidate.Key] - round[baseline.Key]);
        }
        var diff = Stats.MedianWithInterval(diffs);
        return string.Create(CultureInfo.InvariantCulture,
            $"  one thread, synchronous: {baseline.Key} {Stats.Median(cpu[baseline.Key]):0.00} µs {Stats.Median(bytes[baseline.Key]):0} B | {candidate.Key} {Stats.Median(cpu[candidate.Key]):0.00} µs {Stats.Median(bytes[candidate.Key]):0} B | extra CPU {diff.Median:+0.00;-0.00} µs ({diff.Low:+0.00;-0.00} to {diff.High:+0.00;-0.00}), {rounds} rounds of {operations}");
    }
}
