using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Testing;
using Xunit.Abstractions;
using StatusTable = RoutingDataSource.Coordinator.Cli.StatusTable;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>
/// Three coordinators (c1, c2, c3) in-process over one real sync 1+2 cluster (ANY 1 (n1, n2)) and a real etcd, each
/// reaching etcd through its own route (so a test can cut one coordinator alone off from etcd) and logging with its
/// name in front. Disposal stops the coordinators, then the servers, even when the test failed.
/// </summary>
internal sealed class HaCoordinators : IAsyncDisposable
{
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(3);

    private readonly Dictionary<string, CoordinatorHost> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LocalEtcdRoute> _routes = new(StringComparer.Ordinal);

    private HaCoordinators(LocalPgCluster cluster, LocalEtcdCluster etcd, TestLogging logging, string prefix)
    {
        Cluster = cluster;
        Etcd = etcd;
        Logging = logging;
        Prefix = prefix;
    }

    public LocalPgCluster Cluster { get; }

    public LocalEtcdCluster Etcd { get; }

    public TestLogging Logging { get; }

    public string Prefix { get; }

    public IReadOnlyDictionary<string, CoordinatorHost> Hosts => _hosts;

    /// <summary>The node agents, when started with them (every coordinator sends its orders to them).</summary>
    public NodeAgents? Agents { get; private set; }

    public static async Task<HaCoordinators> StartAsync(ITestOutputHelper output, LocalEtcdCluster etcd, bool agents = false)
    {
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true });
        var result = new HaCoordinators(cluster, etcd, new TestLogging(output), "/test/ha-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await cluster.Primary.ExecuteAsync("CREATE TABLE t (id bigint PRIMARY KEY)");
            await cluster.WaitForReplicationAsync();
            if (agents)
                result.Agents = await NodeAgents.StartAsync(cluster);
            foreach (var name in new[] { "c1", "c2", "c3" })
                await result.StartAsync(name);
            await result.WaitForAsync(() => result.Leader is not null && result.Hosts.Values.All(h => h.PrimaryName == cluster.Primary.Name
                && h.Coordinator.View.Members.All(m => m.State == MemberState.Up) && h.Coordinator.Ha!.Coordinators.Count == 3), TimeSpan.FromSeconds(60), "one leader, every coordinator sees the cluster up and all three coordinators");
            return result;
        }
        catch
        {
            await result.DisposeAsync();
            throw;
        }
    }

    /// <summary>The coordinator that leads now, or null.</summary>
    public CoordinatorHost? Leader => _hosts.Values.SingleOrDefault(h => h.Coordinator.Ha!.IsLeader);

    public string? LeaderName => _hosts.FirstOrDefault(h => h.Value.Coordinator.Ha!.IsLeader).Key;

    public LocalEtcdRoute Route(string name) => _routes[name];

    public async Task StartAsync(string name)
    {
        var route = Etcd.OpenRoute();
        _routes[name] = route;
        var options = CoordinatedCluster.OptionsFor(Cluster);
        options.Name = name;
        options.Etcd = new CoordinatorEtcdOptions { Prefix = Prefix, LeaseTtl = LeaseTtl };
        foreach (var endpoint in route.Endpoints)
            options.Etcd.Endpoints.Add(endpoint);
        if (Agents is not null)
        {
            options.AgentToken = NodeAgents.Token;
            foreach (var b in options.Backends)
                b.Agent = Agents.AddressOf(b.Name).ToString();
        }
        _hosts[name] = await CoordinatorHost.StartAsync(options, new NamedLogging(Logging, name));
    }

    /// <summary>The coordinator's process dies: cut off from etcd first (so no resignation reaches it), then stopped.</summary>
    public async Task KillAsync(string name)
    {
        _routes[name].Blackhole();
        _hosts[name].Coordinator.Ha!.CrashForTests();
        await _hosts[name].DisposeAsync();
        _hosts.Remove(name);
    }

    /// <summary>A clean stop (SIGTERM): a leader resigns.</summary>
    public async Task StopAsync(string name)
    {
        await _hosts[name].DisposeAsync();
        _hosts.Remove(name);
    }

    /// <summary>Promote requests the servers received, from their own logs: one per promotion.</summary>
    public int PromoteRequests() =>
        Cluster.Nodes.Sum(n => n.ReadLogTail(50_000).Split('\n').Count(l => l.Contains("received promote request", StringComparison.Ordinal)));

    public async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"Not within {timeout.TotalSeconds:0} s: {what}.\n{Describe()}");
            await Task.Delay(20);
        }
    }

    public string Describe() => string.Join("\n", _hosts.Select(h => $"--- {h.Key} ({(h.Value.Coordinator.Ha!.IsLeader ? "leader" : "follower")}):\n{StatusTable.Render(Api(h.Value))}"));

    public static ClusterView Api(CoordinatorHost host) => Http.Api.WithLeadership(host.Coordinator, host.Address.Authority);

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var host in _hosts.Values)
                await host.DisposeAsync();
            foreach (var route in _routes.Values)
                await route.DisposeAsync();
            if (Agents is not null)
                await Agents.DisposeAsync();
        }
        finally
        {
            await Cluster.DisposeAsync();
        }
    }

    /// <summary>Every line of one coordinator starts with its name.</summary>
    private sealed class NamedLogging(ILoggerFactory inner, string name) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new Named(inner.CreateLogger(categoryName), name);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Named(ILogger inner, string name) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

            public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                inner.Log(logLevel, eventId, state, exception, (s, e) => $"[{name}] {formatter(s, e)}");
        }
    }
}
