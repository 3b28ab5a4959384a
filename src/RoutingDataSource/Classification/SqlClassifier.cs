using RoutingDataSource.Classification;

namespace RoutingDataSource;

/// <summary>
/// Classifies SQL command texts for routing: reads to standbys, writes and session state to the primary
/// (see <see cref="StatementKind"/>). Pure (no I/O), thread-safe, and cached: a text seen before costs
/// one lock-free dictionary lookup and allocates nothing.
/// </summary>
/// <remarks>
/// The classifier reads PostgreSQL's lexical rules and the statement structure; it does not parse SQL
/// fully. Whatever it does not understand is a <see cref="StatementKind.Write"/>, and it never throws
/// on malformed input. Texts longer than 8 KB are classified but not cached, which bounds the memory
/// the cache can hold.
/// </remarks>
public sealed class SqlClassifier
{
    /// <summary>Texts longer than this are not cached: they are rare and would dominate the cache's memory.</summary>
    internal const int MaxCachedLength = 8 * 1024;

    private readonly ClassificationCache _cache;

    /// <summary>Creates a classifier with its own cache.</summary>
    /// <param name="cacheCapacity">How many texts the cache keeps (0 disables caching).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cacheCapacity"/> is negative.</exception>
    public SqlClassifier(int cacheCapacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cacheCapacity);
        _cache = new ClassificationCache(cacheCapacity);
    }

    /// <summary>A shared classifier with the default cache capacity, for tools that just want to ask
    /// "where would this go?".</summary>
    public static SqlClassifier Default { get; } = new();

    /// <summary>The number of texts cached now (never more than the capacity, give or take a racing few).</summary>
    public int CachedCount => _cache.Count;

    /// <summary>Classifies a command text (one or more statements).</summary>
    /// <param name="sql">The command text, as it will be sent to PostgreSQL.</param>
    /// <returns>The classification, shared by every call with the same text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sql"/> is null.</exception>
    public SqlClassification Classify(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        if (_cache.TryGet(sql, out var cached))
        {
            return cached;
        }

        SqlClassification classification;
        try
        {
            classification = SqlAnalyzer.Analyze(sql);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Defence in depth: the fuzz test drives the analyzer itself, unguarded. Should a bug slip
            // through, the safe answer is the primary, not a failed command.
            classification = SqlAnalyzer.Failed(exception);
        }

        if (sql.Length <= MaxCachedLength)
        {
            _cache.Add(sql, classification);
        }

        return classification;
    }
}
