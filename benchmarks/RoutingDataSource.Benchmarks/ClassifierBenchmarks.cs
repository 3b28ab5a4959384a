using System.Text;
using BenchmarkDotNet.Attributes;
using RoutingDataSource.Classification;

namespace RoutingDataSource.Benchmarks;

/// <summary>
/// The classifier's hot path (a cached text: one dictionary lookup, nothing allocated) and its cold
/// path (a 200-character SELECT with a join and two calls, classified from scratch).
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class ClassifierBenchmarks
{
    /// <summary>200 characters: a join, two function calls, parameters.</summary>
    public const string Select200 =
        "SELECT o.id, o.total, upper(c.name) AS customer, date_trunc('day', o.created) AS day " +
        "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = $1 AND o.total > $2 ORDER BY o.id LIMIT 100";

    private readonly SqlClassifier _cached = new();
    private readonly SqlClassifier _uncached = new(cacheCapacity: 0);

    [GlobalSetup]
    public void Setup() => _cached.Classify(Select200);

    [Benchmark(Description = "cached 200-char SELECT")]
    public SqlClassification Cached() => _cached.Classify(Select200);

    [Benchmark(Description = "uncached 200-char SELECT")]
    public SqlClassification Uncached() => _uncached.Classify(Select200);
}

/// <summary>
/// Cost against length on statements classified from scratch: time per KB must stay flat (linear).
/// Kept apart from <see cref="ClassifierBenchmarks"/> so its parameter does not multiply those runs.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class ClassifierLengthBenchmarks
{
    private readonly SqlClassifier _uncached = new(cacheCapacity: 0);
    private string _statement = string.Empty;

    /// <summary>Length of the statement, in KB.</summary>
    [Params(1, 10, 100)]
    public int Kilobytes { get; set; }

    [GlobalSetup]
    public void Setup() => _statement = WideReport(Kilobytes * 1024);

    [Benchmark(Description = "uncached wide SELECT")]
    public SqlClassification Uncached() => _uncached.Classify(_statement);

    /// <summary>A realistic wide report query: a CTE, CASE expressions with calls, casts and strings.</summary>
    private static string WideReport(int length)
    {
        var text = new StringBuilder("WITH recent AS (SELECT * FROM orders WHERE created > now() - interval '7 days') SELECT ");
        for (int i = 0; text.Length < length - 100; i++)
        {
            text.Append(i == 0 ? "" : ", ")
                .Append("CASE WHEN r.kind = 'k").Append(i).Append("' THEN coalesce(upper(r.note), '') ELSE lower(r.code_")
                .Append(i % 17).Append("::text) END AS c").Append(i);
        }

        text.Append(" FROM recent r JOIN customers c ON c.id = r.customer_id WHERE r.status = $1 ORDER BY 1 LIMIT 100");
        return text.ToString();
    }
}
