using RoutingDataSource.Connections;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Connections;

/// <summary>
/// The two lock-free structures every statement touches: the per-processor counter behind a backend's read and write
/// counts, and the slots that pool connection objects and statement waits. Both must stay exact under concurrency.
/// </summary>
public sealed class SharedCounterAndSlotsTests
{
    [Fact]
    public async Task A_striped_counter_loses_no_add_from_concurrent_threads()
    {
        var counter = new StripedCounter();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 100_000; i++)
                counter.Add(t % 2 == 0 ? 1 : 2);
        })));
        Assert.Equal((4 * 100_000) + (4 * 200_000), counter.Value);
    }

    [Fact]
    public void Slots_hold_exactly_their_capacity_whichever_slot_a_search_starts_at()
    {
        // Not a multiple of the region size: the last region is short, and searches wrap around from every start.
        var slots = new ObjectSlots<object>((3 * ObjectSlots<object>.SlotsPerRegion) + 5);
        for (var start = 0; start < slots.Capacity; start++)
        {
            var items = Enumerable.Range(0, slots.Capacity).Select(_ => new object()).ToList();
            foreach (var item in items)
                Assert.True(slots.Return(item, start));
            Assert.False(slots.Return(new object(), start));

            var rented = new HashSet<object>(ReferenceEqualityComparer.Instance);
            while (slots.Rent(start) is { } item)
                Assert.True(rented.Add(item));
            Assert.Equal(items.Count, rented.Count);
            Assert.All(items, i => Assert.Contains(i, rented));
        }
    }

    [Fact]
    public void Slots_never_lend_one_object_to_two_renters_at_once()
    {
        const int threads = 4;
        var slots = new ObjectSlots<Holder>(2 * ObjectSlots<object>.SlotsPerRegion);
        var created = 0;
        var clashes = 0;
        var lent = 0L;
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 200_000; i++)
            {
                var holder = slots.Rent();
                if (holder is null)
                {
                    Interlocked.Increment(ref created);
                    holder = new Holder();
                }
                // Odd while lent out, even while in a slot: a second renter would make it even here.
                if (Interlocked.Increment(ref holder.Count) % 2 == 0)
                    Interlocked.Increment(ref clashes);
                Interlocked.Increment(ref lent);
                Interlocked.Increment(ref holder.Count);
                slots.Return(holder);
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        Assert.Equal(0, clashes);
        Assert.Equal(threads * 200_000L, lent);
        Assert.InRange(created, 1, 1000); // objects came back and were reused, not made anew for each rent
    }

    private sealed class Holder
    {
        public int Count;
    }
}
