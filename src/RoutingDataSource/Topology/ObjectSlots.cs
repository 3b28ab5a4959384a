namespace RoutingDataSource.Topology;

/// <summary>
/// A fixed number of slots holding reusable objects, rented and returned with one compare-and-swap each: no lock and
/// no allocation. When every slot is empty a rent returns null (the caller makes a new object); when every slot is
/// full a return is refused (the caller lets the object go).
/// </summary>
/// <remarks>
/// Each processor starts its search in its own region of <see cref="SlotsPerRegion"/> slots and moves on to the others
/// only when that one is empty (rent) or full (return): processors rarely write to the same cache lines.
/// </remarks>
internal sealed class ObjectSlots<T> where T : class
{
    /// <summary>Two 64-byte cache lines of references.</summary>
    public const int SlotsPerRegion = 16;

    private readonly T?[] _slots;
    private readonly int _regions;

    public ObjectSlots(int capacity)
    {
        _slots = new T?[capacity];
        _regions = Math.Max(1, capacity / SlotsPerRegion);
    }

    public T? Rent() => Rent(Start());

    /// <summary>A rent whose search starts at slot <paramref name="start"/> (tests use every start).</summary>
    internal T? Rent(int start)
    {
        var slots = _slots;
        var i = start;
        for (var n = 0; n < slots.Length; n++, i = i + 1 == slots.Length ? 0 : i + 1)
        {
            var item = Volatile.Read(ref slots[i]);
            if (item is not null && ReferenceEquals(Interlocked.CompareExchange(ref slots[i], null, item), item))
                return item;
        }
        return null;
    }

    public bool Return(T item) => Return(item, Start());

    /// <summary>A return whose search starts at slot <paramref name="start"/> (tests use every start).</summary>
    internal bool Return(T item, int start)
    {
        var slots = _slots;
        var i = start;
        for (var n = 0; n < slots.Length; n++, i = i + 1 == slots.Length ? 0 : i + 1)
        {
            if (Volatile.Read(ref slots[i]) is null && Interlocked.CompareExchange(ref slots[i], item, null) is null)
                return true;
        }
        return false;
    }

    /// <summary>The number of slots.</summary>
    internal int Capacity => _slots.Length;

    private int Start() => _regions == 1 ? 0 : Thread.GetCurrentProcessorId() % _regions * SlotsPerRegion;
}
