using Npgsql;

namespace RoutingDataSource.Topology;

/// <summary>
/// One configured server: its identity, its connection pools and the counters of what was sent to it.
/// Lives as long as the data source; snapshots point at it, so counters survive role changes.
/// </summary>
internal sealed class Backend : IAsyncDisposable
{
    // Added to by every statement: kept off this object's cache lines, which routing reads on every statement.
    private readonly StripedCounter _reads = new();
    private readonly StripedCounter _writes = new();
    private long _reroutes;
    private long _retries;

    public Backend(int index, string name, string host, int port, int weight, NpgsqlDataSource pool, NpgsqlDataSource probePool)
    {
        Index = index;
        Name = name;
        Host = host;
        Port = port;
        Weight = weight;
        Pool = pool;
        ProbePool = probePool;
    }

    /// <summary>Position in the data source's backend array (and in every snapshot's node array).</summary>
    public int Index { get; }

    public string Name { get; }

    public string Host { get; }

    public int Port { get; }

    public int Weight { get; }

    /// <summary>The pool application statements use.</summary>
    public NpgsqlDataSource Pool { get; }

    // Closed NpgsqlConnection objects for reuse: renting a physical connection then allocates nothing after warm-up.
    private readonly ObjectSlots<NpgsqlConnection> _closedConnections = new(64);

    /// <summary>A closed <see cref="NpgsqlConnection"/> on <see cref="Pool"/>, reused when one is free.</summary>
    public NpgsqlConnection RentConnection() => _closedConnections.Rent() ?? NewConnection();

    private NpgsqlConnection NewConnection()
    {
        var connection = Pool.CreateConnection();
        CommitWarnings.Watch(connection);
        return connection;
    }

    /// <summary>What guarded reads and probes taught about this standby's replay (read-your-writes).</summary>
    public ReplayTracker Replay { get; } = new();

    /// <summary>Notices on this backend's connections that a commit's synchronous wait was cut short.</summary>
    public CommitWarnings CommitWarnings { get; } = new();

    /// <summary>
    /// Takes back a connection from <see cref="RentConnection"/> once it is closed (its connector is back in the pool);
    /// one that is not closed, or for which no slot is free, is disposed.
    /// </summary>
    public void ReturnConnection(NpgsqlConnection connection)
    {
        if (connection.State != System.Data.ConnectionState.Closed || !_closedConnections.Return(connection))
            connection.Dispose();
    }

    /// <summary>
    /// The operations waiting on this server now. The monitor abandons them when it takes the backend out of service,
    /// so a hung server never hangs a statement (waiting for the OS TCP timeout) and no wait costs a registration.
    /// </summary>
    public InFlightStatements InFlight { get; } = new();

    /// <summary>A separate small pool for health probes, so an exhausted application pool never blinds the monitor.</summary>
    public NpgsqlDataSource ProbePool { get; }

    private long _suspectSince;

    /// <summary>
    /// When a routed statement last hit a connection-class error here (a <see cref="TimeProvider.GetTimestamp"/>
    /// value; 0 never). Routing avoids the backend until a probe round that started later says it is fine.
    /// </summary>
    public long SuspectSince => Volatile.Read(ref _suspectSince);

    public void MarkSuspect(long timestamp) => Volatile.Write(ref _suspectSince, timestamp);

    /// <summary>Whether a snapshot taken by a round that started at <paramref name="roundStarted"/> predates the last failure seen here.</summary>
    public bool IsSuspectAfter(long roundStarted) => Volatile.Read(ref _suspectSince) > roundStarted;

    private long _lastRerouteLog;

    /// <summary>Reroute logs are rate-limited to one per backend every 10 s: a misclassified hot statement must not flood the log.</summary>
    public bool ShouldLogReroute(long now, long frequency)
    {
        var last = Volatile.Read(ref _lastRerouteLog);
        if (last != 0 && now - last < 10 * frequency)
            return false;
        return Interlocked.CompareExchange(ref _lastRerouteLog, now, last) == last;
    }

    /// <summary>1 while the application_name mismatch warning stands (logged once until the standby's row is back).</summary>
    public int MismatchLogged;

    /// <summary>1 while a permanent connection error (event 1017) stands: logged once, again only after a probe succeeded.</summary>
    public int PermanentErrorLogged;

    /// <summary>Set by DetachBackend: still probed, never routed to.</summary>
    public volatile bool Detached;

    public long Reads => _reads.Value;

    public long Writes => _writes.Value;

    public long Reroutes => Interlocked.Read(ref _reroutes);

    public long Retries => Interlocked.Read(ref _retries);

    public void CountReads(int statements) => _reads.Add(statements);

    public void CountWrites(int statements) => _writes.Add(statements);

    public void CountReroute() => Interlocked.Increment(ref _reroutes);

    public void CountRetry() => Interlocked.Increment(ref _retries);

    public override string ToString() => Name;

    public async ValueTask DisposeAsync()
    {
        await Pool.DisposeAsync().ConfigureAwait(false);
        await ProbePool.DisposeAsync().ConfigureAwait(false);
    }
}
