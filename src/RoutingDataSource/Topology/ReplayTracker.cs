namespace RoutingDataSource.Topology;

/// <summary>
/// What the data source has learnt of one standby's WAL replay between health probes: a replay position proven by a
/// guarded read that passed (see <see cref="Known"/>), and an estimate of how long the standby takes to replay a
/// write, learnt from guarded reads that passed or missed and from probes. Routing uses the estimate to decide
/// whether a read that must see a recent write tries the standby (with the guard) or goes to the primary.
/// </summary>
/// <remarks>
/// The estimate is a threshold on a write's age, adjusted like a congestion window: a miss at age <c>a</c> proves the
/// delay exceeds <c>a</c> and doubles the threshold (at least to <c>2a</c>), a pass lowers it by 1/32, a probe that
/// finds the standby fully replayed brings it back to <see cref="Initial"/> if it was higher. At a steady delay this
/// settles where about one guarded attempt in twenty misses; each miss costs one round trip to the standby (nothing ran
/// there). So that a workload whose reads always come sooner than the threshold can still lower it, one read in
/// <see cref="ExploreEvery"/> that the estimate would send to the primary tries anyway (<see cref="Explore"/>): a pass
/// at age <c>a</c> below the threshold moves it halfway to <c>a</c>, a miss there changes nothing.
/// Lock-free: fields are single words; the proven position is a seqlock keyed by the snapshot version it was proven
/// under, so a standby that regresses (rewound, rebuilt) is believed only until the next probe.
/// </remarks>
internal sealed class ReplayTracker
{
    /// <summary>The threshold a standby starts with and returns to when a probe finds it fully replayed: 2 ms.</summary>
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(2);

    /// <summary>The threshold never grows past this: 30 s (a standby further behind is left to the lag limits).</summary>
    public static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(30);

    /// <summary>The threshold never falls below this: 50 µs.</summary>
    public static readonly TimeSpan Floor = TimeSpan.FromTicks(500);

    /// <summary>One read in this many that the estimate would send to the primary tries the standby anyway.</summary>
    public const int ExploreEvery = 16;

    private static readonly long InitialTicks = Initial.Ticks;
    private static readonly long CeilingTicks = Ceiling.Ticks;
    private static readonly long FloorTicks = Floor.Ticks;
    private int _explore;
    private long _threshold = InitialTicks; // TimeSpan ticks
    private long _knownVersion = -1; // the snapshot version _knownLsn was proven under; -1 while being replaced
    private ulong _knownLsn;
    private long _hits;
    private long _misses;
    private int _missedSincePass; // 1 after a miss, until a pass or a probe finding the standby caught up
    private readonly Lock _gate = new();

    /// <summary>Guarded reads that found the standby replayed far enough and ran there.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Guarded reads that found the standby behind and were run on the primary instead.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>The current estimate of the standby's replay delay.</summary>
    public TimeSpan Threshold => TimeSpan.FromTicks(Volatile.Read(ref _threshold));

    /// <summary>Whether a write <paramref name="age"/> old has probably been replayed (a guarded attempt is worth it).</summary>
    public bool Expects(TimeSpan age) => age.Ticks >= Volatile.Read(ref _threshold);

    /// <summary>
    /// A replay position proven since the snapshot <paramref name="version"/> was published (0: none). Read-only and
    /// allocation-free.
    /// </summary>
    public ulong Known(long version)
    {
        var before = Volatile.Read(ref _knownVersion);
        var lsn = Volatile.Read(ref _knownLsn);
        return before == version && Volatile.Read(ref _knownVersion) == version ? lsn : 0;
    }

    /// <summary>Whether this read, younger than the threshold, should try the standby anyway (one in <see cref="ExploreEvery"/>).</summary>
    public bool Explore() => (Interlocked.Increment(ref _explore) & (ExploreEvery - 1)) == 0;

    /// <summary>
    /// A guarded read of a write <paramref name="age"/> old passed: the standby had replayed <paramref name="lsn"/>
    /// under snapshot <paramref name="version"/>.
    /// </summary>
    public void Hit(ulong lsn, long version, TimeSpan age)
    {
        Interlocked.Increment(ref _hits);
        Volatile.Write(ref _missedSincePass, 0);
        Learn(lsn, version);
        var t = Volatile.Read(ref _threshold);
        var next = age.Ticks < t ? (t + Math.Max(age.Ticks, 0)) / 2 : t - (t >> 5);
        Interlocked.CompareExchange(ref _threshold, Math.Max(FloorTicks, next), t); // lost to a concurrent update: that one counts
    }

    /// <summary>
    /// A guarded read found the standby behind a write <paramref name="age"/> old. One that tried below the threshold
    /// (<see cref="Explore"/>) proves nothing the estimate did not say. A guard that failed at once proves only that
    /// the delay is over <paramref name="age"/>: the estimate doubles (at least twice that age), so it gets ahead of a
    /// standby falling behind. A guard that <paramref name="waited"/> on the standby proves the same, but its age already
    /// includes the wait: the first such miss since a pass raises the estimate to that age, not twice it (doubled, one
    /// slow write's miss made every read right after a write skip the guard until a probe or an exploring read brought
    /// the estimate down again); a second miss in a row doubles as before, so a standby that stopped replaying soon
    /// gets no more attempts.
    /// </summary>
    public void Miss(TimeSpan age, bool exploring = false, bool waited = false)
    {
        Interlocked.Increment(ref _misses);
        if (exploring)
            return;
        var t = Volatile.Read(ref _threshold);
        var a = Math.Max(age.Ticks, 0);
        var first = Interlocked.Exchange(ref _missedSincePass, 1) == 0;
        var next = Math.Min(CeilingTicks, waited && first ? Math.Max(t, a) : Math.Max(2 * t, 2 * a));
        Interlocked.CompareExchange(ref _threshold, next, t);
    }

    /// <summary>A probe found the standby replaying and fully caught up: its delay is small again.</summary>
    public void CaughtUp()
    {
        Volatile.Write(ref _missedSincePass, 0);
        var t = Volatile.Read(ref _threshold);
        if (t > InitialTicks)
            Interlocked.CompareExchange(ref _threshold, InitialTicks, t);
    }

    /// <summary>The standby was seen to have replayed <paramref name="lsn"/> after snapshot <paramref name="version"/> was published.</summary>
    public void Learn(ulong lsn, long version)
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _knownVersion) == version)
            {
                if (lsn > _knownLsn)
                    Volatile.Write(ref _knownLsn, lsn);
                return;
            }
            if (Volatile.Read(ref _knownVersion) > version)
                return; // proven under an older snapshot than one already recorded: the probe covers it
            Volatile.Write(ref _knownVersion, -1);
            Volatile.Write(ref _knownLsn, lsn);
            Volatile.Write(ref _knownVersion, version);
        }
    }
}
