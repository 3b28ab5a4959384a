using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// The one place the soak brings an old primary back as a standby: <see cref="LocalPgNode.RejoinAsync"/> (pg_rewind,
/// else a fresh base backup), then the node is pointed at the new primary's replication proxy, so that a later cut
/// reaches its replication too.
/// </summary>
internal static class Rejoin
{
    /// <summary>Rejoins <paramref name="node"/> under <paramref name="newPrimary"/>; returns how ("pg_rewind" or "pg_basebackup").</summary>
    public static async Task<string> RejoinAsync(ChaosCluster cluster, LocalPgNode node, LocalPgNode newPrimary, CancellationToken cancellationToken)
    {
        // A base backup replaces the data directory: a new inode tells the two ways apart from outside.
        var before = await DirectoryIdAsync(node, cancellationToken);
        await node.RejoinAsync(newPrimary, cancellationToken);
        var how = before is not null && await DirectoryIdAsync(node, cancellationToken) == before ? "pg_rewind" : "pg_basebackup";
        await cluster.StreamThroughProxyAsync(node, newPrimary, cancellationToken);
        return how;
    }

    private static async Task<string?> DirectoryIdAsync(LocalPgNode node, CancellationToken cancellationToken)
    {
        var result = await ExternalProcess.RunAsync("stat", ["-c", "%i", node.DataDirectory], TimeSpan.FromSeconds(10), cancellationToken);
        return result.Succeeded ? result.Output.Trim() : null;
    }
}
