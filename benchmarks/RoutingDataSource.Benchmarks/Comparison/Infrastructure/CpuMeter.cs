namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>
/// How busy the machine's CPUs were over an interval, and how much of that was this run (the harness process and every
/// process it started: servers, their backends, pgpool). The rest is other people's work on a shared machine: it is
/// measured, not guessed, and printed beside the figures.
/// </summary>
internal sealed class CpuMeter
{
    private readonly long _busy;
    private readonly long _total;
    private readonly long _ours;

    private CpuMeter(long busy, long total, long ours)
    {
        _busy = busy;
        _total = total;
        _ours = ours;
    }

    /// <summary>Takes the starting sample.</summary>
    public static CpuMeter Start()
    {
        var (busy, total) = ProcFs.MachineTicks();
        return new CpuMeter(busy, total, OurTicks());
    }

    /// <summary>Shares of the machine's CPU capacity since <see cref="Start"/>: all busy time, ours, and everyone else's.</summary>
    public CpuShare Stop()
    {
        var (busy, total) = ProcFs.MachineTicks();
        var ours = OurTicks();
        var elapsed = Math.Max(1, total - _total);
        var busyShare = (double)(busy - _busy) / elapsed;
        var ourShare = (double)(ours - _ours) / elapsed;
        // The tree is read one process at a time: a server backend that exits and is reaped between the read of its
        // parent and the listing of the children is in neither at that sample, and its whole CPU time drops out of the
        // sum (a backend pruned from an idle pool after minutes of work: several seconds). Such a window cannot say how
        // the CPU was shared: unknown, rather than "other processes used 700%".
        if (ourShare < 0 || ourShare > busyShare + 0.05)
            return new CpuShare(busyShare, double.NaN, double.NaN);
        ourShare = Math.Min(busyShare, ourShare);
        return new CpuShare(busyShare, ourShare, busyShare - ourShare);
    }

    // Processes started by this one were all reaped by a process of the tree (or are still in it), so their CPU time
    // is in some live member's utime/stime or cutime/cstime. A process re-parented to init would be lost; none is.
    // (Between samples, that is: see Stop for a reap that races with one.)
    private static long OurTicks() => ProcFs.Tree(Environment.ProcessId).Sum(p => p.CpuTicks);
}

/// <summary>
/// Fractions (0..1) of the machine's total CPU capacity over an interval; <see cref="Ours"/> and <see cref="Others"/> are
/// NaN when the sample of this run's processes was torn (see <see cref="CpuMeter.Stop"/>).
/// </summary>
internal readonly record struct CpuShare(double Busy, double Ours, double Others);
