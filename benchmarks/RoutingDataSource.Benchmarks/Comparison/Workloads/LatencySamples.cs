using System.Diagnostics;

namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>Every operation's latency of one measurement, merged from the callers and sorted once: exact percentiles.</summary>
internal sealed class LatencySamples
{
    private readonly long[] _sorted;

    public LatencySamples(IEnumerable<List<long>> perCaller)
    {
        _sorted = perCaller.SelectMany(s => s).ToArray();
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    /// <summary>The latency at quantile <paramref name="q"/> (0..1) in milliseconds, nearest rank; NaN without samples.</summary>
    public double PercentileMs(double q)
    {
        if (_sorted.Length == 0)
            return double.NaN;
        var rank = (int)Math.Ceiling(q * _sorted.Length) - 1;
        return _sorted[Math.Clamp(rank, 0, _sorted.Length - 1)] * 1000.0 / Stopwatch.Frequency;
    }
}
