using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Npgsql;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Http;
using RoutingDataSource.Testing;
using Xunit.Abstractions;
using StatusTable = RoutingDataSource.Coordinator.Cli.StatusTable;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real local cluster with a coordinator started in-process over it (HTTP on a free loopback port). Disposal stops
/// the coordinator first, then every server, even when the test failed.
/// </summary>
internal sealed class CoordinatedCluster : IAsyncDisposable
{
    /// <summary>How standbys of the harness stream: trust authentication on loopback as postgres.</summary>
    public const string ReplicationConnInfo = "host={host} port={port} user=postgres application_name={name} connect_timeout=2";

    private CoordinatedCluster(LocalPgCluster cluster, TestLogging logging, CoordinatorOptions options)
    {
        Cluster = cluster;
        Logging = logging;
        Options = options;
    }

    public LocalPgCluster Cluster { get; }

    public TestLogging Logging { get; }

    public CoordinatorOptions Options { get; }

    public CoordinatorHost? Host { get; private set; }

    /// <summary>The node agents, when the cluster was started with them.</summary>
    public NodeAgents? Agents { get; private set; }

    public HttpClient Http { get; private set; } = null!;

    public static async Task<CoordinatedCluster> StartAsync(ITestOutputHelper output, LocalPgClusterOptions? clusterOptions = null,
        Action<CoordinatorOptions, LocalPgCluster>? configure = null, bool startCoordinator = true, bool agents = false)
    {
        var cluster = await LocalPgCluster.StartAsync(clusterOptions ?? new LocalPgClusterOptions { Standbys = 2 });
        NodeAgents? started = null;
        CoordinatedCluster? result = null;
        try
        {
            await cluster.Primary.ExecuteAsync("CREATE TABLE t (id bigint PRIMARY KEY)");
            await cluster.WaitForReplicationAsync();
            var options = OptionsFor(cluster);
            if (agents)
            {
                started = await NodeAgents.StartAsync(cluster);
                options.AgentToken = NodeAgents.Token;
                foreach (var b in options.Backends)
                    b.Agent = started.AddressOf(b.Name).ToString();
            }
            configure?.Invoke(options, cluster);
            result = new CoordinatedCluster(cluster, new TestLogging(output), options) { Agents = started };
            if (startCoordinator)
                await result.StartCoordinatorAsync();
            return result;
        }
        catch
        {
            if (result is not null)
            {
                await result.DisposeAsync();
            }
            else
            {
                if (started is not null)
                    await started.DisposeAsync();
                await cluster.DisposeAsync();
            }
            throw;
        }
    }

    /// <summary>
    /// Starts a cluster whose primary only the coordinator reaches through a <see cref="FaultProxy"/> (the standbys
    /// stream from it directly), so a test can cut the coordinator off from a healthy primary.
    /// </summary>
    public static async Task<(CoordinatedCluster Cluster, FaultProxy CoordinatorToPrimary)> StartWithPrimaryBehindProxyAsync(ITestOutputHelper output)
    {
        FaultProxy? proxy = null;
        try
        {
            var c = await StartAsync(output, configure: (o, cluster) =>
            {
                proxy = FaultProxy.For(cluster.Primary);
                o.Backends[0].ConnectionString = cluster.Primary.ConnectionStringVia(proxy);
                o.Backends[0].ReplicationPort = cluster.Primary.Port;
            });
            return (c, proxy!);
        }
        catch
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
            throw;
        }
    }

    public static CoordinatorOptions OptionsFor(LocalPgCluster cluster)
    {
        var options = new CoordinatorOptions { ReplicationConnInfo = ReplicationConnInfo, Http = "127.0.0.1:0" };
        foreach (var n in cluster.Nodes)
            options.Backends.Add(new CoordinatorBackend { Name = n.Name, ConnectionString = n.ConnectionString, Priority = 1 });
        return options;
    }

    /// <summary>Starts the coordinator and waits (bounded) until <paramref name="ready"/> holds, by default: a primary and every member up.</summary>
    public async Task StartCoordinatorAsync(Func<ClusterView, bool>? ready = null)
    {
        Host = await CoordinatorHost.StartAsync(Options, Logging);
        Http = new HttpClient { BaseAddress = Host.Address, Timeout = TimeSpan.FromSeconds(30) };
        await WaitForViewAsync(ready ?? (v => v.Primary is not null && v.Members.All(m => m.State == MemberState.Up)), TimeSpan.FromSeconds(15), "coordinator ready");
    }

    /// <summary>POSTs a JSON body (with the bearer token when one is configured); the status code and the body text.</summary>
    public async Task<(HttpStatusCode Code, string Body)> PostJsonAsync(string path, string json, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (Options.ApiToken is { } token)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Http.SendAsync(request, cancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary>
    /// Makes <paramref name="standby"/> stream from <paramref name="primary"/> through <paramref name="proxy"/> (which
    /// must forward to <paramref name="primary"/>), so that a test can hold its WAL back; waits until it streams.
    /// </summary>
    public static async Task StreamThroughAsync(LocalPgNode standby, LocalPgNode primary, FaultProxy proxy)
    {
        var conninfo = $"host={proxy.Host} port={proxy.Port} user=postgres application_name={standby.ApplicationName} connect_timeout=2";
        await standby.ExecuteAsync($"ALTER SYSTEM SET primary_conninfo = '{conninfo}'");
        await standby.ExecuteAsync("SELECT pg_reload_conf()");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (await primary.ScalarAsync<bool>($"SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = '{standby.ApplicationName}' AND state = 'streaming' AND client_port IS NOT NULL)")
                && proxy.ActiveConnections > 0)
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{standby.Name} does not stream through {proxy}.\n{standby.ReadLogTail(30)}");
    }

    /// <summary>Polls <paramref name="node"/>'s <c>synchronous_standby_names</c> until <paramref name="condition"/> holds (bounded).</summary>
    public static async Task<string> WaitForSyncNamesAsync(LocalPgNode node, Func<string, bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await node.ScalarAsync<string>("SHOW synchronous_standby_names") ?? "";
            if (condition(value))
                return value;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"synchronous_standby_names on {node.Name} is still '{value}' after {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    public ClusterView View => Host!.Coordinator.View;

    public async Task<ClusterView> GetClusterAsync() => (await Http.GetFromJsonAsync<ClusterView>("cluster", Json.Options))!;

    /// <summary>Polls the coordinator's view until <paramref name="condition"/> holds (bounded).</summary>
    public async Task<ClusterView> WaitForViewAsync(Func<ClusterView, bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = Host!.Coordinator.View;
            if (condition(view))
                return view;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"Not within {timeout.TotalSeconds:0} s: {what}. View:\n{StatusTable.Render(view)}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Tries an INSERT on every node but <paramref name="except"/> every 20 ms until one accepts it; returns that node
    /// and when (bounded). Each attempt uses a fresh unpooled connection with a 1 s timeout.
    /// </summary>
    public async Task<(LocalPgNode Node, TimeSpan At)> WaitForWritableAsync(Stopwatch since, LocalPgNode except, TimeSpan timeout, long id)
    {
        var candidates = Cluster.Nodes.Where(n => n != except).ToArray();
        while (since.Elapsed < timeout)
        {
            foreach (var n in candidates)
            {
                try
                {
                    await using var conn = new NpgsqlConnection(n.ConnectionStringWith(b => { b.Pooling = false; b.Timeout = 1; b.CommandTimeout = 2; }));
                    await conn.OpenAsync();
                    await using var cmd = new NpgsqlCommand($"INSERT INTO t VALUES ({id})", conn);
                    await cmd.ExecuteNonQueryAsync();
                    return (n, since.Elapsed);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException)
                {
                }
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"No node accepted a write within {timeout.TotalSeconds:0} s.\n{StatusTable.Render(View)}\n{Cluster.DumpLogs(30)}");
    }

    /// <summary>Waits until <paramref name="primary"/> lists <paramref name="standby"/> as streaming (bounded).</summary>
    public static async Task WaitForStreamingAsync(LocalPgNode primary, LocalPgNode standby, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var streaming = await primary.ScalarAsync<bool>(
                $"SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = '{standby.ApplicationName}' AND state = 'streaming')");
            if (streaming)
                return;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{standby.Name} does not stream from {primary.Name} after {timeout.TotalSeconds:0} s.\n{standby.ReadLogTail(30)}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Http?.Dispose();
            if (Host is not null)
                await Host.DisposeAsync();
            if (Agents is not null)
                await Agents.DisposeAsync();
        }
        finally
        {
            await Cluster.DisposeAsync();
        }
    }
}
