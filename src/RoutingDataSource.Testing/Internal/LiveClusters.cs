using System.Collections.Concurrent;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// The clusters of this process that are not disposed yet, so that a normal process exit
/// with forgotten or failed disposals still stops every server it started.
/// </summary>
internal static class LiveClusters
{
    private static readonly ConcurrentDictionary<LocalPgCluster, byte> Clusters = new();
    private static int _hooked;

    public static void Add(LocalPgCluster cluster)
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAll();
        }

        Clusters.TryAdd(cluster, 0);
    }

    public static void Remove(LocalPgCluster cluster) => Clusters.TryRemove(cluster, out _);

    // Synchronous by necessity: ProcessExit gives no async context and a few seconds at most.
    private static void StopAll()
    {
        foreach (var cluster in Clusters.Keys)
        {
            cluster.KillNow();
        }
    }
}
