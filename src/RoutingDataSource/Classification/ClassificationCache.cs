using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace RoutingDataSource.Classification;

/// <summary>
/// A bounded map from SQL text to its classification. Lookups are lock-free; adding a text (once per
/// text, on the cold path) takes the dictionary's per-bucket lock. Two generations: new
/// entries go to the current one; when it is full it becomes the previous one and the generation
/// before it is dropped. A hit in the previous generation is copied forward, so statements in use
/// survive (an approximate LRU) while the total stays within the capacity.
/// </summary>
internal sealed class ClassificationCache
{
    private readonly int _generationCapacity;
    private Generations _generations;

    public ClassificationCache(int capacity)
    {
        Capacity = capacity;
        _generationCapacity = Math.Max(1, capacity / 2);
        _generations = new Generations(new Generation(), null);
    }

    /// <summary>The most entries the cache holds (give or take the few that racing writers add at a rotation).</summary>
    public int Capacity { get; }

    /// <summary>The number of entries held now.</summary>
    public int Count
    {
        get
        {
            var generations = Volatile.Read(ref _generations);
            return generations.Current.Map.Count + (generations.Previous?.Map.Count ?? 0);
        }
    }

    public bool TryGet(string sql, [NotNullWhen(true)] out SqlClassification? classification)
    {
        var generations = Volatile.Read(ref _generations);
        if (generations.Current.Map.TryGetValue(sql, out classification))
        {
            return true;
        }

        if (generations.Previous is { } previous && previous.Map.TryGetValue(sql, out classification))
        {
            Add(sql, classification);
            return true;
        }

        return false;
    }

    public void Add(string sql, SqlClassification classification)
    {
        if (Capacity == 0)
        {
            return;
        }

        var generations = Volatile.Read(ref _generations);
        var current = generations.Current;
        if (current.Map.TryAdd(sql, classification) &&
            Interlocked.Increment(ref current.Count) >= _generationCapacity)
        {
            // Whoever fills the generation rotates; a loser of the race simply finds it done.
            Interlocked.CompareExchange(ref _generations, new Generations(new Generation(), current), generations);
        }
    }

    private sealed class Generation
    {
        // Keyed by the text itself: a hit costs one hash of the text and one comparison.
        public readonly ConcurrentDictionary<string, SqlClassification> Map = new(SqlTextComparer.Instance);

        public int Count;
    }

    private sealed class Generations(Generation current, Generation? previous)
    {
        public Generation Current { get; } = current;

        public Generation? Previous { get; } = previous;
    }
}
