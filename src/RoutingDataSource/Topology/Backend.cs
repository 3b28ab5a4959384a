using Npgsql;

namespace RoutingDataSource.Topology;

/// <summary>
/// One configured server: its identity, its connection pools and the counters of what was sent to it.
/// Lives as long as the data source; snapshots point at it, so counters survive role changes.
/// </summary>
internal sealed class Backend : IAsyncDisposable
{
    private long _reads;
    private long _writes;
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

    /// <summary>A separate small pool for health probes, so an exhausted application pool never blinds the monitor.</summary>
    public NpgsqlDataSource ProbePool { get; }

    /// <summary>The application_name mismatch warning is logged once per backend.</summary>
    public int MismatchLogged;

    /// <summary>Set by DetachBackend: still probed, never routed to.</summary>
    public volatile bool Detached;

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    public long Reroutes => Interlocked.Read(ref _reroutes);

    public long Retries => Interlocked.Read(ref _retries);

    public void CountRead() => Interlocked.Increment(ref _reads);

    public void CountWrite() => Interlocked.Increment(ref _writes);

    public void CountReroute() => Interlocked.Increment(ref _reroutes);

    public void CountRetry() => Interlocked.Increment(ref _retries);

    public override string ToString() => Name;

    public async ValueTask DisposeAsync()
    {
        await Pool.DisposeAsync().ConfigureAwait(false);
        await ProbePool.DisposeAsync().ConfigureAwait(false);
    }
}
