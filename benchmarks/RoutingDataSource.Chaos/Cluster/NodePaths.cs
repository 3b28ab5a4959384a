using System.Globalization;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// The three ways into one server, each through its own <see cref="FaultProxy"/>: the client's pool, the
/// coordinator's probes and actions, and the standbys' replication connections when this server is the primary.
/// Cutting a server off from everyone blackholes all three; the harness's own statements go around them.
/// </summary>
internal sealed class NodePaths : IAsyncDisposable
{
    private NodePaths(LocalPgNode node, FaultProxy client, FaultProxy coordinator, FaultProxy replication)
    {
        Node = node;
        Client = client;
        Coordinator = coordinator;
        Replication = replication;
    }

    public LocalPgNode Node { get; }

    /// <summary>The data source's way in.</summary>
    public FaultProxy Client { get; }

    /// <summary>The coordinator's way in.</summary>
    public FaultProxy Coordinator { get; }

    /// <summary>The standbys' way in (their <c>primary_conninfo</c> names this proxy).</summary>
    public FaultProxy Replication { get; }

    /// <summary>Whether the paths are cut right now.</summary>
    public bool IsCut { get; private set; }

    public static NodePaths Start(LocalPgNode node) =>
        new(node, FaultProxy.For(node), FaultProxy.For(node), FaultProxy.For(node));

    /// <summary>The <c>primary_conninfo</c> of a standby (<paramref name="applicationName"/>) streaming from this server.</summary>
    public string ReplicationConnInfo(string applicationName) => string.Create(CultureInfo.InvariantCulture,
        $"host={Replication.Host} port={Replication.Port} user={LocalPgCluster.SuperUser} application_name={applicationName} connect_timeout=2");

    /// <summary>Drops all traffic on every path, established connections included (held, as a partition holds it).</summary>
    public void Cut()
    {
        IsCut = true;
        Client.Blackhole();
        Coordinator.Blackhole();
        Replication.Blackhole();
    }

    /// <summary>Ends a cut: traffic flows again.</summary>
    public void Heal()
    {
        IsCut = false;
        Client.Heal();
        Coordinator.Heal();
        Replication.Heal();
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Coordinator.DisposeAsync();
        await Replication.DisposeAsync();
    }
}
