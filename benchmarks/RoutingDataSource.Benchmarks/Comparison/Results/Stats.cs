namespace RoutingDataSource.Benchmarks.Comparison.Results;

/// <summary>The few statistics the report uses.</summary>
internal static class Stats
{
    /// <summary>The median (mean of the two middle values for an even count); NaN for none.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (v.Length == 0)
            return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>The value at fraction <paramref name="p"/> (0..1) of the sorted values, nearest rank; NaN for none.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        return v.Length == 0 ? double.NaN : v[Math.Clamp((int)Math.Ceiling(p * v.Length) - 1, 0, v.Length - 1)];
    }

    /// <summary>
    /// The median with a distribution-free confidence interval of at least 95%: the k-th smallest and k-th largest value,
    /// with k the largest rank for which a binomial(n, ½) variable falls below k with probability at most 2.5%. It assumes
    /// nothing about the shape of the noise, only that the values are independent. Below 6 values no such k exists: the
    /// interval is then unbounded (NaN ends), so nothing can be decided from it.
    /// </summary>
    public static Estimate MedianWithInterval(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        var n = v.Length;
        var median = Median(v);
        var k = 0; // how many values lie below the interval on each side
        var below = 0.0; // P(X < k+1) for X ~ binomial(n, 1/2)
        var term = Math.Pow(0.5, n); // P(X = k)
        while (n > 0)
        {
            below += term;
            if (below > 0.025)
                break;
            k++;
            term *= (double)(n - k + 1) / k;
        }

        return k == 0
            ? new Estimate(median, double.NaN, double.NaN, n)
            : new Estimate(median, v[k - 1], v[n - k], n);
    }
}

/// <summary>A median and its 95% confidence interval (NaN ends when there are too few values to bound it).</summary>
internal readonly record struct Estimate(double Median, double Low, double High, int Count)
{
    public bool Bounded => !double.IsNaN(Low) && !double.IsNaN(High);

    /// <summary>Whether the interval lies wholly at or above <paramref name="target"/>, wholly below it, or across it.</summary>
    public TargetVerdict AtLeast(double target) =>
        !Bounded ? TargetVerdict.Undecided : Low >= target ? TargetVerdict.Met : High < target ? TargetVerdict.Missed : TargetVerdict.Undecided;

    /// <summary>Whether the interval lies wholly below <paramref name="limit"/>, wholly at or above it, or across it.</summary>
    public TargetVerdict Below(double limit) =>
        !Bounded ? TargetVerdict.Undecided : High < limit ? TargetVerdict.Met : Low >= limit ? TargetVerdict.Missed : TargetVerdict.Undecided;
}

/// <summary>What a run can say about a target: met or missed beyond its noise, or not decided by it.</summary>
internal enum TargetVerdict
{
    Met,
    Missed,
    Undecided,
}
