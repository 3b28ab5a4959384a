using System.Collections.Concurrent;

namespace RoutingDataSource.Testing.Internal;

/// <summary>A cluster of servers that can be killed synchronously when the process exits.</summary>
internal interface IKillableCluster
{
    /// <summary>Stops every server of the cluster and deletes its directory, blocking; does nothing once disposed.</summary>
    void KillNow();
}

/// <summary>
/// The clusters (PostgreSQL and etcd) of this process that are not disposed yet, so that a normal process exit
/// with forgotten or failed disposals still stops every server it started.
/// </summary>
internal static class LiveClusters
{
    private static readonly ConcurrentDictionary<IKillableCluster, byte> Clusters = new();
    private static int _hooked;

    public static void Add(IKillableCluster cluster)
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAll();
        }

        Clusters.TryAdd(cluster, 0);
    }

    public static void Remove(IKillableCluster cluster) => Clusters.TryRemove(cluster, out _);

    // Synchronous by necessity: ProcessExit gives no async context and a few seconds at most.
    private static void StopAll()
    {
        foreach (var cluster in Clusters.Keys)
        {
            cluster.KillNow();
        }
    }
}
