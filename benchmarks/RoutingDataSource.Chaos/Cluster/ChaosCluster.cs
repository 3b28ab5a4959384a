using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingDataSource.Coordinator;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos.Cluster;

/// <summary>
/// What the soak runs against: a synchronous 1+2 <see cref="LocalPgCluster"/> (<c>ANY 1 (n1, n2)</c>,
/// <c>wal_receiver_timeout = '2s'</c>, <c>wal_log_hints</c>), a <see cref="NodePaths"/> per server (the data source, the
/// coordinators and the standbys' replication each reach every server through a proxy of their own), the
/// coordinators in-process with their defaults (<see cref="ChaosCoordinators"/>: one alone, or three in HA mode on a
/// 3-member etcd), and one <see cref="PgRoutingDataSource"/> (weights 0/1/1, health check every 200 ms). Disposal
/// stops all of it, the servers last, after their logs have been copied to the artifacts directory.
/// </summary>
internal sealed class ChaosCluster : IAsyncDisposable
{
    public const string SynchronousStandbyNames = "ANY 1 (n1, n2)";

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    public const string AgentToken = "chaos-agent-token-0123456789";

    private const string ReplicationConnInfo = "host={host} port={port} user=postgres application_name={name} connect_timeout=2";

    private readonly Dictionary<string, NodePaths> _paths;
    private readonly Dictionary<string, LocalNodeAgent> _agents = new(StringComparer.Ordinal);
    private readonly string _artifacts;

    private ChaosCluster(LocalPgCluster cluster, Dictionary<string, NodePaths> paths, RunClock clock, string artifacts)
    {
        Cluster = cluster;
        _paths = paths;
        Clock = clock;
        _artifacts = artifacts;
        ClientLog = new LogFile(Path.Combine(artifacts, "client.log"), clock, "RoutingDataSource", LogLevel.Debug);
        CoordinatorLog = new LogFile(Path.Combine(artifacts, "coordinator.log"), clock, "RoutingDataSource.Coordinator", LogLevel.Information);
    }

    public LocalPgCluster Cluster { get; }

    public RunClock Clock { get; }

    public LogFile ClientLog { get; }

    public LogFile CoordinatorLog { get; }

    public ChaosCoordinators Coordinators { get; private set; } = null!;

    /// <summary>The node agents (<c>routing-coordinator agent</c>, one process per server), or empty when the soak runs without them.</summary>
    public IReadOnlyDictionary<string, LocalNodeAgent> Agents => _agents;

    /// <summary>Whether old primaries and lost standbys come back through their agents (else the harness rejoins them).</summary>
    public bool WithAgents => _agents.Count > 0;

    public PgRoutingDataSource DataSource { get; private set; } = null!;

    public IReadOnlyList<LocalPgNode> Nodes => Cluster.Nodes;

    public NodePaths Paths(LocalPgNode node) => _paths[node.Name];

    /// <summary>Starts everything and returns once the coordinator and the data source both see n0 as the primary.</summary>
    public static async Task<ChaosCluster> StartAsync(RunClock clock, string artifacts, int coordinators, bool agents, Func<LocalPgNode, Task> createSchema, CancellationToken cancellationToken)
    {
        var options = new LocalPgClusterOptions
        {
            Standbys = 2,
            SynchronousStandbyNames = SynchronousStandbyNames,
            ExtraSettings = { "wal_receiver_timeout = '2s'", "wal_log_hints = on" },
        };
        var cluster = await LocalPgCluster.StartAsync(options, cancellationToken);
        var paths = new Dictionary<string, NodePaths>(StringComparer.Ordinal);
        ChaosCluster? chaos = null;
        try
        {
            foreach (var node in cluster.Nodes)
                paths[node.Name] = NodePaths.Start(node);
            chaos = new ChaosCluster(cluster, paths, clock, artifacts);
            await createSchema(cluster.Primary);
            foreach (var standby in cluster.Standbys)
                await chaos.StreamThroughProxyAsync(standby, cluster.Primary, cancellationToken);
            if (agents)
            {
                // The built coordinator program is copied next to the soak (a project reference).
                var program = Path.Combine(AppContext.BaseDirectory, "RoutingDataSource.Coordinator.dll");
                foreach (var node in cluster.Nodes)
                    chaos._agents[node.Name] = await LocalNodeAgent.StartAsync(node, program, AgentToken, ReplicationConnInfo, cancellationToken: cancellationToken);
            }
            await chaos.StartCoordinatorsAsync(coordinators, cancellationToken);
            await chaos.StartDataSourceAsync(cancellationToken);
            return chaos;
        }
        catch
        {
            if (chaos is not null)
            {
                await chaos.DisposeAsync();
            }
            else
            {
                foreach (var p in paths.Values)
                    await p.DisposeAsync();
                await cluster.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>
    /// The primary now: the one the coordinator names, provided it answers (directly, around the proxies) as not in
    /// recovery; null when there is none.
    /// </summary>
    public async Task<LocalPgNode?> CurrentPrimaryAsync(CancellationToken cancellationToken)
    {
        if (Coordinators.PrimaryName is not { } name || Cluster.Nodes.FirstOrDefault(n => n.Name == name) is not { } node)
            return null;
        return node.IsRunning && !node.IsFrozen && await AnswersAsPrimaryAsync(node, cancellationToken) ? node : null;
    }

    /// <summary>Waits (bounded) until the coordinator names a primary other than <paramref name="old"/> that answers as one.</summary>
    public async Task<LocalPgNode?> WaitForNewPrimaryAsync(LocalPgNode old, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = Clock.Now + timeout.TotalSeconds;
        while (Clock.Now < until)
        {
            if (Coordinators.PrimaryName is { } name && name != old.Name && await CurrentPrimaryAsync(cancellationToken) is { } primary)
                return primary;
            await Task.Delay(Poll, cancellationToken);
        }

        return null;
    }

    /// <summary>
    /// Waits (bounded) until the cluster is whole: every server running and not frozen, the coordinator's primary
    /// answering as one, both other servers streaming from it through its replication proxy (a standby streaming
    /// around the proxy is repointed), and the data source writing to the same primary. Returns that primary.
    /// </summary>
    /// <exception cref="TimeoutException">Not whole within <paramref name="timeout"/>; the message says what was missing.</exception>
    public async Task<LocalPgNode> WaitUntilWholeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = Clock.Now + timeout.TotalSeconds;
        var missing = "";
        while (true)
        {
            missing = await MissingAsync(cancellationToken);
            if (missing.Length == 0)
                return (await CurrentPrimaryAsync(cancellationToken))!;
            if (Clock.Now >= until)
                throw new TimeoutException($"The cluster was not whole within {timeout.TotalSeconds:0} s: {missing}.\n{Cluster.DumpLogs(15)}");
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    /// <summary>Points <paramref name="standby"/>'s <c>primary_conninfo</c> at <paramref name="primary"/>'s replication proxy and waits until it streams through it.</summary>
    public async Task StreamThroughProxyAsync(LocalPgNode standby, LocalPgNode primary, CancellationToken cancellationToken)
    {
        var proxy = Paths(primary).Replication;
        if (await SenderPortAsync(standby, cancellationToken) != proxy.Port)
        {
            var conninfo = Paths(primary).ReplicationConnInfo(standby.ApplicationName).Replace("'", "''", StringComparison.Ordinal);
            await standby.ExecuteAsync($"ALTER SYSTEM SET primary_conninfo = '{conninfo}'", cancellationToken);
            await standby.ExecuteAsync($"ALTER SYSTEM SET primary_slot_name = '{standby.SlotName}'", cancellationToken);
            await standby.ExecuteAsync("SELECT pg_reload_conf()", cancellationToken);
        }

        var until = Clock.Now + 30;
        while (await SenderPortAsync(standby, cancellationToken) != proxy.Port || !await IsStreamingAsync(primary, standby, cancellationToken))
        {
            if (Clock.Now >= until)
                throw new TimeoutException($"{standby.Name} does not stream from {primary.Name} through {proxy} after 30 s.\n{standby.ReadLogTail(20)}");
            await Task.Delay(Poll, cancellationToken);
        }
    }

    /// <summary>Copies the server logs (the cluster's directory goes away on disposal) into the artifacts directory.</summary>
    public void CopyServerLogs()
    {
        foreach (var node in Cluster.Nodes)
        {
            try
            {
                if (File.Exists(node.LogPath))
                    File.Copy(node.LogPath, Path.Combine(_artifacts, node.Name + ".log"), overwrite: true);
            }
            catch (IOException)
            {
                // A log that cannot be copied is missed in the artifacts, nothing more.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (DataSource is not null)
                await DataSource.DisposeAsync();
            if (Coordinators is not null)
                await Coordinators.DisposeAsync();
        }
        finally
        {
            try
            {
                foreach (var p in _paths.Values)
                    await p.DisposeAsync();
            }
            finally
            {
                CopyServerLogs();
                await Cluster.DisposeAsync();
                ClientLog.Dispose();
                CoordinatorLog.Dispose();
            }
        }
    }

    private async Task StartCoordinatorsAsync(int count, CancellationToken cancellationToken)
    {
        Coordinators = await ChaosCoordinators.StartAsync(count, CoordinatorOptionsFor, CoordinatorLog, Clock, cancellationToken);
        var until = Clock.Now + 60;
        while (Coordinators.PrimaryName != Cluster.Primary.Name || Coordinators.Missing() is { Length: > 0 })
        {
            if (Clock.Now >= until)
                throw new TimeoutException($"The coordinators did not name n0 as the primary within 60 s ({Coordinators.Missing()}; the leader names {Coordinators.PrimaryName ?? "none"}).");
            await Task.Delay(Poll, cancellationToken);
        }
    }

    /// <summary>Defaults for everything that decides a failover; only the addresses are the soak's (the same for every coordinator).</summary>
    private CoordinatorOptions CoordinatorOptionsFor(string name)
    {
        var options = new CoordinatorOptions
        {
            ReplicationConnInfo = ReplicationConnInfo,
            Http = "127.0.0.1:0",
            AgentToken = WithAgents ? AgentToken : null,
        };
        foreach (var node in Cluster.Nodes)
        {
            var paths = Paths(node);
            options.Backends.Add(new CoordinatorBackend
            {
                Name = node.Name,
                ConnectionString = node.ConnectionStringVia(paths.Coordinator),
                ReplicationHost = paths.Replication.Host,
                ReplicationPort = paths.Replication.Port,
                Agent = _agents.TryGetValue(node.Name, out var agent) ? agent.Address.ToString() : null,
            });
        }

        return options;
    }

    /// <summary>Promote requests the servers received, from their whole logs ("received promote request"): one per promotion.</summary>
    public int PromoteRequests()
    {
        var count = 0;
        foreach (var node in Cluster.Nodes)
        {
            try
            {
                using var stream = new FileStream(node.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                while (reader.ReadLine() is { } line)
                {
                    if (line.Contains("received promote request", StringComparison.Ordinal))
                        count++;
                }
            }
            catch (IOException)
            {
                // No log (yet): nothing promoted there.
            }
        }

        return count;
    }

    private async Task StartDataSourceAsync(CancellationToken cancellationToken)
    {
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var node in Cluster.Nodes)
            builder.AddBackend(node.Name, node.ConnectionStringVia(Paths(node).Client), node == Cluster.Primary ? 0 : 1);
        builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        builder.UseLoggerFactory(ClientLog);
        DataSource = builder.Build();
        var until = Clock.Now + 30;
        while ((await DataSource.RefreshStatusAsync(cancellationToken)).PrimaryName != Cluster.Primary.Name)
        {
            if (Clock.Now >= until)
                throw new TimeoutException($"The data source did not see n0 as the primary within 30 s:\n{DataSource.GetStatus()}");
            await Task.Delay(Poll, cancellationToken);
        }
    }

    private async Task<string> MissingAsync(CancellationToken cancellationToken)
    {
        foreach (var node in Cluster.Nodes)
        {
            if (!node.IsRunning)
                return $"{node.Name} is not running";
            if (node.IsFrozen)
                return $"{node.Name} is frozen";
            if (Paths(node).IsCut)
                return $"{node.Name} is cut off";
        }

        if (Coordinators.Missing() is { Length: > 0 } coordinators)
            return coordinators;
        if (await CurrentPrimaryAsync(cancellationToken) is not { } primary)
            return $"no primary (the leading coordinator names {Coordinators.PrimaryName ?? "none"})";
        foreach (var standby in Cluster.Nodes.Where(n => n != primary))
        {
            if (await AnswersAsPrimaryAsync(standby, cancellationToken))
                return $"{standby.Name} answers as a primary too";
            if (!await IsStreamingAsync(primary, standby, cancellationToken))
                return $"{standby.Name} does not stream from {primary.Name}";
            if (!await IsOnTimelineOfAsync(standby, primary, cancellationToken))
                return $"{standby.Name} does not receive {primary.Name}'s timeline";
            if (await SenderPortAsync(standby, cancellationToken) != Paths(primary).Replication.Port)
            {
                await StreamThroughProxyAsync(standby, primary, cancellationToken);
                return $"{standby.Name} streamed around the replication proxy (repointed)";
            }
        }

        if (DataSource.GetStatus().PrimaryName != primary.Name)
            return $"the data source writes to {DataSource.GetStatus().PrimaryName ?? "no primary"}, not {primary.Name}";
        return "";
    }

    private static async Task<bool> AnswersAsPrimaryAsync(LocalPgNode node, CancellationToken cancellationToken)
    {
        try
        {
            return !await node.IsInRecoveryAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="primary"/> lists <paramref name="standby"/> as streaming.</summary>
    public static Task<bool> StreamsAsync(LocalPgNode primary, LocalPgNode standby, CancellationToken cancellationToken) =>
        IsStreamingAsync(primary, standby, cancellationToken);

    /// <summary>What <paramref name="member"/>'s agent last did, as the leading coordinator reports it (null: nothing yet, or nobody leads).</summary>
    public string? AgentReport(string member) => Coordinators.Leader?.Coordinator.View.Find(member)?.Agent;

    private static async Task<bool> IsStreamingAsync(LocalPgNode primary, LocalPgNode standby, CancellationToken cancellationToken)
    {
        try
        {
            return await primary.ScalarAsync<bool>(
                $"SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = '{standby.ApplicationName}' AND state = 'streaming')", cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// The standbys other than those stopped or frozen that do not stream <paramref name="primary"/>'s timeline: after
    /// a failover, a standby that replayed past the new primary's fork point can never follow it (its log says "new
    /// timeline N forked off current database system timeline M before current recovery point").
    /// </summary>
    public async Task<IReadOnlyList<LocalPgNode>> StrayStandbysAsync(LocalPgNode primary, CancellationToken cancellationToken)
    {
        var stray = new List<LocalPgNode>();
        foreach (var standby in Cluster.Nodes.Where(n => n != primary && n.IsRunning && !n.IsFrozen))
        {
            if (await AnswersAsPrimaryAsync(standby, cancellationToken))
                continue;
            if (!await IsStreamingAsync(primary, standby, cancellationToken) || !await IsOnTimelineOfAsync(standby, primary, cancellationToken))
                stray.Add(standby);
        }

        return stray;
    }

    private static async Task<bool> IsOnTimelineOfAsync(LocalPgNode standby, LocalPgNode primary, CancellationToken cancellationToken)
    {
        try
        {
            var received = await standby.ScalarAsync<int?>("SELECT received_tli FROM pg_stat_wal_receiver WHERE status = 'streaming'", cancellationToken);
            return received is { } tli && tli == await primary.GetTimelineAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<int?> SenderPortAsync(LocalPgNode standby, CancellationToken cancellationToken)
    {
        try
        {
            return await standby.ScalarAsync<int?>("SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'", cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>"n0=primary n1=standby ..." from the servers themselves, for progress lines.</summary>
    public async Task<string> DescribeAsync(CancellationToken cancellationToken)
    {
        var parts = new List<string>();
        foreach (var node in Cluster.Nodes)
        {
            string role;
            if (!node.IsRunning)
                role = "stopped";
            else if (node.IsFrozen)
                role = "frozen";
            else
                role = await AnswersAsPrimaryAsync(node, cancellationToken) ? "primary" : "standby";
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{node.Name}={role}"));
        }

        return string.Join(' ', parts);
    }
}
