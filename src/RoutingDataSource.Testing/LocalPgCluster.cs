using System.Diagnostics;
using System.Globalization;
using System.Text;
using Npgsql;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// A real PostgreSQL streaming-replication cluster on this machine for tests: a primary ("n0")
/// and N hot standbys ("n1", "n2", ...) streaming through physical slots, on free loopback
/// ports, in a fresh temporary directory. Built from the installed server binaries
/// (<c>PG_BIN</c>, else <c>pg_config --bindir</c>, else the newest <c>/usr/lib/postgresql/*/bin</c>);
/// when the process is root the servers run as the <c>postgres</c> OS user. Linux only.
/// </summary>
/// <remarks>
/// Disposal stops every server and deletes the directory. Servers never outlive the process
/// either: a process-exit handler stops them, a detached watchdog does when the process is
/// killed, and every start first removes what dead processes left behind.
/// </remarks>
/// <example>
/// <code>
/// await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 });
/// await cluster.Primary.ExecuteAsync("CREATE TABLE t (x int)");
/// await cluster.WaitForReplicationAsync();
/// await cluster.Node("n1").FreezeAsync();      // a hung standby
/// await using var proxy = FaultProxy.For(cluster.Node("n2"));
/// proxy.Blackhole();                            // a partitioned one
/// </code>
/// </example>
public sealed class LocalPgCluster : IAsyncDisposable, IKillableCluster
{
    /// <summary>The superuser every node is initialised with (trust authentication on loopback).</summary>
    public const string SuperUser = "postgres";

    /// <summary>The database the connection strings point at.</summary>
    public const string DefaultDatabase = "postgres";

    private readonly List<LocalNodeAgent> _agents = [];
    private readonly ClusterWatchdog _watchdog;
    private readonly List<LocalPgNode> _nodes = [];
    private int _disposed;

    private LocalPgCluster(LocalPgClusterOptions options, PgBinaries binaries, string directory, ClusterWatchdog watchdog)
    {
        Options = options;
        Binaries = binaries;
        Directory = directory;
        _watchdog = watchdog;
    }

    /// <summary>All nodes, the initial primary first.</summary>
    public IReadOnlyList<LocalPgNode> Nodes => _nodes;

    /// <summary>The initial primary, "n0". After a promotion it may be a standby, stopped, or fenced: the cluster does not track roles.</summary>
    public LocalPgNode Primary => _nodes[0];

    /// <summary>The initial standbys, "n1", "n2", ...</summary>
    public IReadOnlyList<LocalPgNode> Standbys { get; private set; } = [];

    /// <summary>The user of every connection string (<see cref="SuperUser"/>).</summary>
    public string Username => SuperUser;

    /// <summary>The database of every connection string (<see cref="DefaultDatabase"/>).</summary>
    public string Database => DefaultDatabase;

    /// <summary>The temporary directory holding the data directories, logs and sockets; deleted on disposal.</summary>
    public string Directory { get; }

    /// <summary>How long <see cref="StartAsync(LocalPgClusterOptions?, CancellationToken)"/> took, from call to all standbys streaming.</summary>
    public TimeSpan StartupDuration { get; private set; }

    /// <summary>What <c>postgres --version</c> of the binaries used printed.</summary>
    public string ServerVersion => Binaries.Version;

    /// <summary>
    /// An Npgsql multi-host connection string over all nodes
    /// (<c>Host=127.0.0.1:p0,127.0.0.1:p1,...;Username=postgres;Database=postgres</c>).
    /// </summary>
    public string MultiHostConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = string.Join(',', _nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Host}:{n.Port}"))),
        Username = SuperUser,
        Database = DefaultDatabase,
    }.ConnectionString;

    internal LocalPgClusterOptions Options { get; }

    internal PgBinaries Binaries { get; }

    /// <summary>
    /// Starts a cluster and returns once every standby streams from the primary.
    /// A 1+2 cluster takes well under a second on a small machine once the template exists
    /// (the first start of a process per PostgreSQL installation runs initdb once, ~1 s more).
    /// </summary>
    /// <exception cref="InvalidOperationException">No server binaries, or a server failed to start (the message holds its log).</exception>
    /// <exception cref="TimeoutException">The standbys did not start streaming within <see cref="LocalPgClusterOptions.StartTimeout"/>.</exception>
    public static Task<LocalPgCluster> StartAsync(LocalPgClusterOptions? options = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, WorkArea.OwnerStamp, cancellationToken);

    /// <summary>Starts a cluster whose directory names <paramref name="ownerStamp"/> as its owner: tests make "left behind" clusters this way.</summary>
    internal static async Task<LocalPgCluster> StartAsync(LocalPgClusterOptions? options, string ownerStamp, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("LocalPgCluster runs on Linux only (it signals and inspects server processes through /proc).");
        }

        options ??= new LocalPgClusterOptions();
        options.Validate();
        var clock = Stopwatch.StartNew();

        using var startTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        startTimeout.CancelAfter(options.StartTimeout);
        var ct = startTimeout.Token;

        PgBinaries binaries;
        string template;
        try
        {
            binaries = await PgBinaries.LocateAsync(ct).ConfigureAwait(false);
            await Task.Run(() => StaleClusterReaper.ReapDeadOwners(WorkArea.Root), ct).ConfigureAwait(false);
            template = await ClusterTemplate.EnsureAsync(binaries, options.StartTimeout, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Preparing the cluster (locating binaries, initdb) took longer than {options.StartTimeout.TotalSeconds:0} s.", e);
        }

        var directory = WorkArea.NewClusterDirectory(options.NamePrefix?.TrimEnd('-', '_'), ownerStamp);
        // The watchdog exists before any server does, so no server is ever unguarded.
        System.IO.Directory.CreateDirectory(directory);
        var cluster = new LocalPgCluster(options, binaries, directory, ClusterWatchdog.Start(directory));
        LiveClusters.Add(cluster);
        try
        {
            await cluster.BuildAsync(template, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            var logs = cluster.DumpLogs(40);
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"The cluster did not start within {options.StartTimeout.TotalSeconds:0} s.\n{logs}", e);
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        cluster.StartupDuration = clock.Elapsed;
        return cluster;
    }

    /// <summary>The node called <paramref name="name"/> (e.g. "n1").</summary>
    /// <exception cref="KeyNotFoundException">No such node.</exception>
    public LocalPgNode Node(string name) =>
        _nodes.Find(n => n.Name == name)
        ?? throw new KeyNotFoundException($"No node '{name}' in this cluster (nodes: {string.Join(", ", _nodes.Select(n => n.Name))}).");

    /// <summary>
    /// Waits until every running, unfrozen standby has replayed all WAL the current primary
    /// (the running node not in recovery) has written so far.
    /// </summary>
    /// <exception cref="TimeoutException">A standby did not catch up (paused replay, not streaming); the message holds its log.</exception>
    public async Task WaitForReplicationAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var limit = timeout ?? Options.OperationTimeout;
        var running = _nodes.Where(n => n.IsRunning && !n.IsFrozen).ToList();
        LocalPgNode? primary = null;
        var standbys = new List<LocalPgNode>();
        foreach (var node in running)
        {
            if (await node.IsInRecoveryAsync(cancellationToken).ConfigureAwait(false))
            {
                standbys.Add(node);
            }
            else
            {
                primary ??= node;
            }
        }

        if (primary is null)
        {
            throw new InvalidOperationException($"No running node is a primary, so there is nothing to replicate.\n{DumpLogs(20)}");
        }

        var target = await primary.GetWalPositionAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(standbys.Select(s => s.WaitForReplayAsync(target, limit, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>
    /// The tails of all server logs, headed by node: print it from a test fixture when a test
    /// fails so that the failure explains itself.
    /// </summary>
    public string DumpLogs(int linesPerNode = 200)
    {
        var text = new StringBuilder();
        foreach (var node in _nodes)
        {
            text.AppendLine(node.LogSection(linesPerNode));
        }

        return text.ToString();
    }

    /// <summary>"LocalPgCluster n0 (127.0.0.1:port), n1 (...)".</summary>
    public override string ToString() => $"LocalPgCluster {string.Join(", ", _nodes)}";

    /// <summary>Thaws and stops (immediately) every server of this cluster, then deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Signals, not pg_ctl: the same as -m immediate, and with no program to spawn per node.
        await Task.Run(KillAndDelete).ConfigureAwait(false);
    }

    /// <summary>The synchronous cleanup of process exit. Blocking by design (no async context is left then).</summary>
    internal void KillNow()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            KillAndDelete();
        }
    }

    void IKillableCluster.KillNow() => KillNow();

    /// <summary>Tells the watchdog its owner died, without cleaning up: for tests of the watchdog.</summary>
    internal void SimulateOwnerDeath() => _watchdog.SimulateOwnerDeath();

    /// <summary>(Re)writes a node's settings file; called again when a node had to move to another port.</summary>
    internal Task WriteSettingsAsync(LocalPgNode node, CancellationToken cancellationToken)
    {
        var upstream = node.IsInitialStandby ? Primary : null;
        var text = NodeSettings.Render(Options, Directory, _nodes, node, upstream);
        return File.WriteAllTextAsync(Path.Combine(node.DataDirectory, ClusterTemplate.NodeSettingsFile), text, cancellationToken);
    }

    /// <summary>An agent started for a node of this cluster: killed before the servers are.</summary>
    internal void Track(LocalNodeAgent agent)
    {
        lock (_agents)
        {
            _agents.Add(agent);
        }
    }

    internal void Untrack(LocalNodeAgent agent)
    {
        lock (_agents)
        {
            _agents.Remove(agent);
        }
    }

    private void KillAndDelete()
    {
        LocalNodeAgent[] agents;
        lock (_agents)
        {
            agents = [.. _agents];
        }

        foreach (var agent in agents)
        {
            agent.Kill();
        }

        try
        {
            foreach (var node in _nodes)
            {
                node.ThawCore();
            }

            StaleClusterReaper.Remove(Directory);
            foreach (var node in _nodes)
            {
                node.ForgetServerProcess();
            }
        }
        finally
        {
            _watchdog.Release();
            LiveClusters.Remove(this);
        }
    }

    private async Task BuildAsync(string template, CancellationToken cancellationToken)
    {
        for (var i = 0; i <= Options.Standbys; i++)
        {
            var name = $"{Options.NamePrefix}n{i.ToString(CultureInfo.InvariantCulture)}";
            var applicationName = Options.StandbyApplicationNames.TryGetValue(name, out var overridden) ? overridden : name;
            var dataDirectory = Path.Combine(Directory, WorkArea.Sanitize(name));
            _nodes.Add(new LocalPgNode(this, name, isInitialStandby: i > 0, applicationName, dataDirectory, dataDirectory + ".log", PortAllocator.Next()));
        }

        Standbys = _nodes.Skip(1).ToArray();

        // Copies of one shut-down directory share its system identifier and checkpoint, so each
        // is a valid base backup: standbys start streaming from that checkpoint at once.
        await Task.WhenAll(_nodes.Select(n => CopyTemplateAsync(template, n.DataDirectory, cancellationToken))).ConfigureAwait(false);
        foreach (var node in _nodes)
        {
            await WriteSettingsAsync(node, cancellationToken).ConfigureAwait(false);
            if (node.IsInitialStandby)
            {
                await File.WriteAllTextAsync(Path.Combine(node.DataDirectory, "standby.signal"), "", cancellationToken).ConfigureAwait(false);
            }
        }

        await WorkArea.GiveToServerUserAsync(Directory, cancellationToken).ConfigureAwait(false);

        await Primary.StartCoreAsync(portMayMove: true, cancellationToken).ConfigureAwait(false);
        var standbys = Standbys;
        if (standbys.Count == 0)
        {
            return;
        }

        // The primary's port is final now: point the standbys at it.
        foreach (var standby in standbys)
        {
            await WriteSettingsAsync(standby, cancellationToken).ConfigureAwait(false);
            await Sql.ExecuteAsync(Primary.AdminConnectionString, "SELECT pg_create_physical_replication_slot($1::name, true)", cancellationToken, standby.SlotName).ConfigureAwait(false);
        }

        await Task.WhenAll(standbys.Select(s => s.StartCoreAsync(portMayMove: true, cancellationToken))).ConfigureAwait(false);
        var expected = standbys.Select(s => s.ApplicationName).ToArray();
        await Poll.UntilAsync(
            async ct => await Sql.ScalarAsync<long>(
                Primary.AdminConnectionString,
                "SELECT count(DISTINCT application_name) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = ANY($1)",
                ct,
                (object)expected).ConfigureAwait(false) == expected.Length,
            Options.StartTimeout,
            () => $"Not every standby streamed from the primary within {Options.StartTimeout.TotalSeconds:0} s.\n{DumpLogs(40)}",
            cancellationToken).ConfigureAwait(false);
    }

    private static async Task CopyTemplateAsync(string template, string destination, CancellationToken cancellationToken)
    {
        // cp -a keeps the server user's ownership and the 0700 mode PostgreSQL insists on.
        var result = await Command.RunAsync("cp", ["-a", "--reflink=auto", template, destination], TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Could not copy the template data directory {template} to {destination}: {result.Output}");
        }
    }
}
