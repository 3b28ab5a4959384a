using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// The failover coordinators of a measured cluster, in-process with their default settings: one alone, or several in
/// HA mode on an etcd (a key prefix of their own); with node agents when given. Disposing stops them all.
/// </summary>
internal sealed class BenchCoordinators : IAsyncDisposable
{
    /// <summary>The <c>primary_conninfo</c> template of the coordinators and the agents (plain node names: slot names come from them).</summary>
    public const string ReplicationConnInfo = $"host={{host}} port={{port}} user={LocalPgCluster.SuperUser} application_name={{name}}";

    private readonly List<CoordinatorHost> _hosts;

    private BenchCoordinators(List<CoordinatorHost> hosts) => _hosts = hosts;

    public IReadOnlyList<CoordinatorHost> Hosts => _hosts;

    /// <summary>The one that leads now (the only one without etcd); null while nobody does.</summary>
    public CoordinatorHost? Leader => _hosts.FirstOrDefault(c => c.IsLeader);

    /// <summary>
    /// Starts <paramref name="count"/> coordinators (HA mode on <paramref name="etcd"/> when it is set) over
    /// <paramref name="cluster"/>, ordering <paramref name="agents"/> (by member name, with <paramref name="agentToken"/>)
    /// when given, logging to <paramref name="logs"/> (nowhere when null); returns once one leads and all of them name a primary (30 s at most).
    /// </summary>
    public static async Task<BenchCoordinators> StartAsync(LocalPgCluster cluster, int count, LocalEtcdCluster? etcd,
        IReadOnlyDictionary<string, LocalNodeAgent>? agents, CancellationToken cancellationToken, string? agentToken = null, ILoggerFactory? logs = null)
    {
        var prefix = "/bench/failover-" + Guid.NewGuid().ToString("N")[..8];
        var coordinators = new BenchCoordinators([]);
        try
        {
            for (var i = 1; i <= count; i++)
            {
                var options = new CoordinatorOptions
                {
                    Name = "c" + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ReplicationConnInfo = ReplicationConnInfo,
                    Http = "127.0.0.1:0",
                    AgentToken = agents is null ? null : agentToken,
                };
                foreach (var node in cluster.Nodes)
                {
                    options.Backends.Add(new CoordinatorBackend
                    {
                        Name = node.Name,
                        ConnectionString = node.ConnectionString,
                        Agent = agents is not null && agents.TryGetValue(node.Name, out var agent) ? agent.Address.ToString() : null,
                    });
                }

                if (etcd is not null)
                {
                    options.Etcd = new CoordinatorEtcdOptions { Prefix = prefix };
                    foreach (var endpoint in etcd.Endpoints)
                        options.Etcd.Endpoints.Add(endpoint);
                }

                coordinators._hosts.Add(await CoordinatorHost.StartAsync(options, logs, cancellationToken));
            }

            for (var i = 0; i < 600 && (coordinators.Leader?.PrimaryName is null || coordinators._hosts.Any(c => c.PrimaryName is null)); i++)
                await Task.Delay(50, cancellationToken);
            if (coordinators.Leader?.PrimaryName is null)
                throw new TimeoutException("No leading coordinator found a primary within 30 s.");
            return coordinators;
        }
        catch
        {
            await coordinators.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var coordinator in _hosts)
            await coordinator.DisposeAsync();
    }
}
