using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

public sealed class CacheTests
{
    [Fact]
    public void Same_text_returns_the_same_shared_classification()
    {
        var classifier = new SqlClassifier();
        var first = classifier.Classify("SELECT upper(a) FROM t");
        var second = classifier.Classify(string.Concat("SELECT upper(a) ", "FROM t"));
        Assert.Same(first, second);
    }

    [Fact]
    public void Cached_lookup_allocates_nothing()
    {
        var classifier = new SqlClassifier();
        string sql = "SELECT a.id, upper(b.name) FROM a JOIN b ON b.a_id = a.id WHERE a.created > now() - interval '1 day'";
        for (int i = 0; i < 200; i++)
        {
            // Warm up, so the measured calls run jitted code.
            classifier.Classify(sql);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            classifier.Classify(sql);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Cache_stays_within_its_capacity()
    {
        var classifier = new SqlClassifier(cacheCapacity: 100);
        for (int i = 0; i < 10_000; i++)
        {
            classifier.Classify($"SELECT {i}");
        }

        Assert.InRange(classifier.CachedCount, 1, 100);
    }

    [Fact]
    public void Statements_in_use_survive_the_eviction_of_others()
    {
        var classifier = new SqlClassifier(cacheCapacity: 100);
        const string hot = "SELECT * FROM hot WHERE id = $1";
        var original = classifier.Classify(hot);
        for (int i = 0; i < 10_000; i++)
        {
            classifier.Classify($"SELECT {i}");
            if (i % 10 == 0)
            {
                Assert.Same(original, classifier.Classify(hot));
            }
        }
    }

    [Fact]
    public void Zero_capacity_disables_the_cache()
    {
        var classifier = new SqlClassifier(cacheCapacity: 0);
        Assert.NotSame(classifier.Classify("SELECT 1"), classifier.Classify("SELECT 1"));
        Assert.Equal(0, classifier.CachedCount);
    }

    [Fact]
    public void Texts_longer_than_8_KB_are_classified_but_not_cached()
    {
        var classifier = new SqlClassifier();
        string large = "SELECT 1" + new string(' ', SqlClassifier.MaxCachedLength);
        Assert.Equal(StatementKind.Read, classifier.Classify(large).Kind);
        Assert.Equal(0, classifier.CachedCount);
    }

    [Fact]
    public void Negative_capacity_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SqlClassifier(-1));
    }

    [Fact]
    public void Null_text_is_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => SqlClassifier.Default.Classify(null!));
    }

    [Fact]
    public void Concurrent_classification_is_consistent()
    {
        var classifier = new SqlClassifier(cacheCapacity: 64);
        string[] texts = Enumerable.Range(0, 200)
            .Select(i => i % 2 == 0 ? $"SELECT f{i}(a) FROM t" : $"UPDATE t SET a = {i}")
            .ToArray();
        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            string sql = texts[i % texts.Length];
            var c = classifier.Classify(sql);
            Assert.Equal((i % texts.Length) % 2 == 0 ? StatementKind.Read : StatementKind.Write, c.Kind);
        });
        // Each generation holds half the capacity, plus at most one add per racing thread at a rotation.
        Assert.InRange(classifier.CachedCount, 1, 64 + (2 * 4));
    }

    [Fact]
    public void Cache_key_hash_reads_every_character_and_rarely_collides()
    {
        // Texts that differ in one character anywhere (start, middle, vectorized tail) or only in length.
        var prefix = new string('x', 150);
        var texts = new List<string>();
        for (int i = 0; i < 20_000; i++)
        {
            texts.Add($"SELECT {i} FROM t");
            texts.Add($"{prefix}{i}{prefix}");
            texts.Add(new string('a', i % 300));
        }

        var distinct = texts.Distinct().ToList();
        int hashes = distinct.Select(t => SqlTextComparer.Instance.GetHashCode(t)).Distinct().Count();
        Assert.True(hashes >= distinct.Count - 5, $"{distinct.Count - hashes} collisions among {distinct.Count} texts");
        Assert.True(SqlTextComparer.Instance.Equals("SELECT 1", string.Concat("SELECT ", "1")));
        Assert.Equal(SqlTextComparer.Instance.GetHashCode("SELECT 1"), SqlTextComparer.Instance.GetHashCode(string.Concat("SELECT ", "1")));
    }
}
