using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// The one place the soak brings an old primary back as a standby. With agents it only waits (bounded) until the
/// node's agent has done it on the leader's order, and says how ("agent: rewound ..."); a node its agent did not bring
/// back in time, and every node without agents, is rejoined by the harness: <see cref="LocalPgNode.RejoinAsync"/>
/// (pg_rewind, else a fresh base backup). Then the node is pointed at the new primary's replication proxy, so that a
/// later cut reaches its replication too (an agent's upstream is that proxy already).
/// </summary>
internal static class Rejoin
{
    /// <summary>How long an agent may take to bring a node back before the harness does it.</summary>
    public static readonly TimeSpan AgentBound = TimeSpan.FromSeconds(90);

    /// <summary>Rejoins <paramref name="node"/> under <paramref name="newPrimary"/>; returns how ("agent: ...", "pg_rewind" or "pg_basebackup").</summary>
    public static async Task<string> RejoinAsync(ChaosCluster cluster, LocalPgNode node, LocalPgNode newPrimary, CancellationToken cancellationToken)
    {
        if (cluster.WithAgents)
        {
            if (await ByAgentAsync(cluster, node, newPrimary, cancellationToken) is { } how)
            {
                await cluster.StreamThroughProxyAsync(node, newPrimary, cancellationToken);
                return how;
            }
            var report = cluster.AgentReport(node.Name) ?? "no report";
            return await ByHarnessAsync(cluster, node, newPrimary, cancellationToken) + $" by the harness: the agent did not within {AgentBound.TotalSeconds:0} s ({report})";
        }

        return await ByHarnessAsync(cluster, node, newPrimary, cancellationToken);
    }

    /// <summary>Waits until <paramref name="node"/> streams from <paramref name="newPrimary"/>; how its agent did it, or null when it did not in time.</summary>
    public static async Task<string?> ByAgentAsync(ChaosCluster cluster, LocalPgNode node, LocalPgNode newPrimary, CancellationToken cancellationToken)
    {
        var until = cluster.Clock.Now + AgentBound.TotalSeconds;
        while (cluster.Clock.Now < until)
        {
            if (node.IsRunning && !node.IsFrozen && await ChaosCluster.StreamsAsync(newPrimary, node, cancellationToken))
            {
                // It streams a moment before its agent reports the order done (the agent watches it stream first).
                var settle = cluster.Clock.Now + 10;
                while (Verb(cluster.AgentReport(node.Name)) is null && cluster.Clock.Now < settle)
                    await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
                return "agent " + (Verb(cluster.AgentReport(node.Name)) ?? "(streaming, no report)");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }

        return null;
    }

    // "rewound: streams from n1 (...)" -> "rewound"; null while the order runs (or before any).
    private static string? Verb(string? report) =>
        report?.Split(':')[0] is { Length: > 0 } verb && verb is "rewound" or "rebuilt" or "demoted" or "started as a standby" ? verb : null;

    private static async Task<string> ByHarnessAsync(ChaosCluster cluster, LocalPgNode node, LocalPgNode newPrimary, CancellationToken cancellationToken)
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
