namespace RoutingDataSource.Topology;

/// <summary>
/// The operations (statements, connection opens, commits, the end of a write's results) that wait on one backend's
/// server right now, so that the monitor can stop the waiting when it takes the backend out of service: a hung server
/// then never hangs its callers, and nobody asks it to cancel (Npgsql's cancel request itself waits on that server).
/// </summary>
/// <remarks>
/// <para>
/// A waiting operation occupies one of a fixed set of reusable slots; claiming and clearing one is a compare-and-swap
/// each, and its awaitable is the slot itself (<see cref="InFlightSlot"/>): no allocation and no registration on a
/// shared token per operation. The monitor walks the slots only when it takes the backend out of service
/// (<see cref="AbandonAll"/>), which is rare.
/// </para>
/// <para>
/// Each time the backend is taken out of service its <see cref="Epoch"/> moves on. An operation notes the epoch before
/// it sends anything; it is abandoned when the epoch moves on while it waits, whether the monitor finds its slot or the
/// operation sees the new epoch as it claims one (each side fences before it looks at the other's write).
/// </para>
/// </remarks>
internal sealed class InFlightStatements
{
    /// <summary>Slots a processor searches first: two 64-byte cache lines of references.</summary>
    private const int SlotsPerRegion = 16;

    private readonly Lock _growing = new();
    private InFlightSlot[] _slots;
    private int _epoch;

    public InFlightStatements()
    {
        _slots = NewSlots(Environment.ProcessorCount * SlotsPerRegion, []);
    }

    /// <summary>Moves on each time the backend is taken out of service. Read it before sending the operation.</summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>How many slots exist (tests; grows with the peak number of operations waiting at once).</summary>
    internal int Capacity => Volatile.Read(ref _slots).Length;

    /// <summary>How many operations wait right now (tests and diagnostics; a snapshot, not exact under load).</summary>
    internal int Waiting
    {
        get
        {
            var n = 0;
            foreach (var slot in Volatile.Read(ref _slots))
                n += slot.IsWaiting ? 1 : 0;
            return n;
        }
    }

    /// <summary>
    /// Completes with true when <paramref name="operation"/> has finished, or with false when the backend was taken out
    /// of service (or <paramref name="giveUp"/> fired) first: the operation must then be abandoned, its physical
    /// connection never touched again. <paramref name="sentInEpoch"/> is <see cref="Epoch"/> as read before the
    /// operation was sent. Await the result at once, once, with <c>ConfigureAwait(false)</c>.
    /// </summary>
    /// <remarks>
    /// <paramref name="giveUp"/> is for the rare waits that also end on the caller's token or a timeout (a commit);
    /// one that can be cancelled costs a registration, so statements pass none.
    /// </remarks>
    public ValueTask<bool> FinishesAsync(Task operation, int sentInEpoch, CancellationToken giveUp = default)
    {
        if (operation.IsCompleted)
            return new ValueTask<bool>(true);
        var slot = Claim();
        return slot.Watch(operation, sentInEpoch, this, giveUp);
    }

    /// <summary>
    /// Takes the backend out of service for every operation waiting on it now: each one's caller stops waiting (on
    /// the thread pool, never on the monitor's loop) and abandons it. Operations sent afterwards are not affected.
    /// Returns how many were abandoned.
    /// </summary>
    public int AbandonAll()
    {
        var epoch = Interlocked.Increment(ref _epoch); // a full fence before the slots are read
        var abandoned = 0;
        foreach (var slot in Volatile.Read(ref _slots))
            abandoned += slot.TryAbandonBefore(epoch) ? 1 : 0;
        return abandoned;
    }

    private InFlightSlot Claim()
    {
        while (true)
        {
            var slots = Volatile.Read(ref _slots);
            var start = slots.Length <= SlotsPerRegion ? 0 : Thread.GetCurrentProcessorId() % (slots.Length / SlotsPerRegion) * SlotsPerRegion;
            var i = start;
            for (var n = 0; n < slots.Length; n++, i = i + 1 == slots.Length ? 0 : i + 1)
            {
                if (slots[i].TryClaim())
                    return slots[i];
            }
            Grow(slots);
        }
    }

    // More operations wait at once than there are slots (a pool larger than the default, or opens queued for a
    // connector): double the slots. Slots are never removed, so the monitor's walk always sees every one in use.
    private void Grow(InFlightSlot[] full)
    {
        lock (_growing)
        {
            if (ReferenceEquals(Volatile.Read(ref _slots), full))
                Volatile.Write(ref _slots, NewSlots(full.Length * 2, full));
        }
    }

    private static InFlightSlot[] NewSlots(int length, InFlightSlot[] existing)
    {
        var slots = new InFlightSlot[Math.Max(length, SlotsPerRegion)];
        existing.CopyTo(slots, 0);
        for (var i = existing.Length; i < slots.Length; i++)
            slots[i] = new InFlightSlot();
        return slots;
    }
}
