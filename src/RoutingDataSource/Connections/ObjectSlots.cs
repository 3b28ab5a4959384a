namespace RoutingDataSource.Connections;

/// <summary>
/// A fixed number of slots holding reusable objects, rented and returned with one compare-and-swap each: no lock and
/// no allocation. When every slot is empty a rent returns null (the caller makes a new object); when every slot is
/// full a return is refused (the caller lets the object go).
/// </summary>
internal sealed class ObjectSlots<T>(int capacity) where T : class
{
    private readonly T?[] _slots = new T?[capacity];

    public T? Rent()
    {
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            var item = Volatile.Read(ref slots[i]);
            if (item is not null && ReferenceEquals(Interlocked.CompareExchange(ref slots[i], null, item), item))
                return item;
        }
        return null;
    }

    public bool Return(T item)
    {
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is null && Interlocked.CompareExchange(ref slots[i], item, null) is null)
                return true;
        }
        return false;
    }
}
