namespace RoutingDataSource.Topology;

/// <summary>
/// A counter that many threads add to on every statement: one cell per processor, each on its own cache line, so an
/// add is an uncontended interlocked operation on a line that stays with its core. A read sums the cells.
/// </summary>
/// <remarks>
/// One shared field written by every statement moves its cache line between cores on each add, and with it whatever
/// else lives on that line (the backend's fields that routing reads).
/// </remarks>
internal sealed class StripedCounter
{
    private const int LongsPerLine = 8; // 64-byte lines
    private readonly long[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        var stripes = (int)Math.Min(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));
        _mask = stripes - 1;
        // One line of padding before the first cell keeps it off the line that holds the array's length.
        _cells = new long[(stripes + 1) * LongsPerLine];
    }

    public void Add(long value)
        => Interlocked.Add(ref _cells[((Thread.GetCurrentProcessorId() & _mask) + 1) * LongsPerLine], value);

    public long Value
    {
        get
        {
            long sum = 0;
            for (var i = 1; i <= _mask + 1; i++)
                sum += Interlocked.Read(ref _cells[i * LongsPerLine]);
            return sum;
        }
    }
}
