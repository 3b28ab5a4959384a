using System.Diagnostics;
using System.Globalization;
using System.Text;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// A real etcd cluster on this machine for tests: 1 or 3 members ("e0", "e1", "e2") on free loopback ports, each
/// behind a <see cref="FaultProxy"/> that clients go through, with its data in the harness's work area. Built from
/// Debian's <c>etcd-server</c> package (<c>etcd</c> on the PATH, or <c>ETCD_BIN</c>), which build.sh installs; when the
/// process is root the members run as the <c>postgres</c> OS user, like the PostgreSQL servers. Linux only.
/// </summary>
/// <remarks>
/// Disposal stops every member and deletes the directory. Members never outlive the process either: the same
/// process-exit handler, watchdog and stale-directory reaping as <see cref="LocalPgCluster"/> stop them.
/// </remarks>
/// <example>
/// <code>
/// await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3 });
/// var endpoints = etcd.Endpoints;             // "http://127.0.0.1:p0", ... through the proxies
/// await etcd.Member("e1").KillAsync();        // a crashed member: the quorum holds
/// etcd.Member("e2").CutOff();                 // no client reaches e2 any more
/// await using var route = etcd.OpenRoute();   // one client's own path to every member
/// route.Blackhole();                          // that client alone is cut off from etcd
/// </code>
/// </example>
public sealed class LocalEtcdCluster : IAsyncDisposable, IKillableCluster
{
    private readonly ClusterWatchdog _watchdog;
    private readonly List<LocalEtcdMember> _members = [];
    private readonly List<LocalEtcdRoute> _routes = [];
    private readonly string _token;
    private int _disposed;

    private LocalEtcdCluster(LocalEtcdClusterOptions options, string etcdProgram, string directory, ClusterWatchdog watchdog)
    {
        Options = options;
        EtcdProgram = etcdProgram;
        Directory = directory;
        _watchdog = watchdog;
        _token = Path.GetFileName(directory);
    }

    /// <summary>All members, "e0" first.</summary>
    public IReadOnlyList<LocalEtcdMember> Members => _members;

    /// <summary>Every member's client URL through its proxy, for a client's endpoint list (cut a member off with <see cref="LocalEtcdMember.CutOff"/>).</summary>
    public IReadOnlyList<string> Endpoints => _members.Select(m => m.Endpoint).ToArray();

    /// <summary>Every member's own client URL, bypassing the proxies.</summary>
    public IReadOnlyList<string> DirectEndpoints => _members.Select(m => m.DirectEndpoint).ToArray();

    /// <summary>The temporary directory holding the members' data and logs; deleted on disposal.</summary>
    public string Directory { get; }

    /// <summary>How long <see cref="StartAsync(LocalEtcdClusterOptions?, CancellationToken)"/> took, from call to every member healthy.</summary>
    public TimeSpan StartupDuration { get; private set; }

    internal LocalEtcdClusterOptions Options { get; }

    internal string EtcdProgram { get; }

    /// <summary>Starts a cluster and returns once every member reports healthy (it has a leader).</summary>
    /// <exception cref="InvalidOperationException">No etcd program, or a member failed to start (the message holds its log).</exception>
    /// <exception cref="TimeoutException">The cluster was not healthy within <see cref="LocalEtcdClusterOptions.StartTimeout"/>.</exception>
    public static Task<LocalEtcdCluster> StartAsync(LocalEtcdClusterOptions? options = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, WorkArea.OwnerStamp, cancellationToken);

    /// <summary>Starts a cluster whose directory names <paramref name="ownerStamp"/> as its owner: tests make "left behind" clusters this way.</summary>
    internal static async Task<LocalEtcdCluster> StartAsync(LocalEtcdClusterOptions? options, string ownerStamp, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("LocalEtcdCluster runs on Linux only (it signals and inspects member processes through /proc).");
        }

        options ??= new LocalEtcdClusterOptions();
        options.Validate();
        var program = LocateEtcd();
        var clock = Stopwatch.StartNew();
        using var startTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        startTimeout.CancelAfter(options.StartTimeout);
        await Task.Run(() => StaleClusterReaper.ReapDeadOwners(WorkArea.Root), startTimeout.Token).ConfigureAwait(false);

        // Another process may take a port between the allocator's check and etcd's bind: then start afresh on new ports.
        for (var attempt = 1; ; attempt++)
        {
            var label = (options.NamePrefix?.TrimEnd('-', '_') is { Length: > 0 } prefix ? prefix + "-" : "") + "etcd";
            var directory = WorkArea.NewClusterDirectory(label, ownerStamp);
            System.IO.Directory.CreateDirectory(directory);
            var cluster = new LocalEtcdCluster(options, program, directory, ClusterWatchdog.Start(directory));
            LiveClusters.Add(cluster);
            try
            {
                await cluster.BuildAsync(startTimeout.Token).ConfigureAwait(false);
                cluster.StartupDuration = clock.Elapsed;
                return cluster;
            }
            catch (Exception e) when (e is not OperationCanceledException && attempt < 3 && cluster.LostPortRace())
            {
                await cluster.DisposeAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                var logs = cluster.DumpLogs(40);
                await cluster.DisposeAsync().ConfigureAwait(false);
                throw new TimeoutException($"The etcd cluster did not start within {options.StartTimeout.TotalSeconds:0} s.\n{logs}", e);
            }
            catch
            {
                await cluster.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>The member called <paramref name="name"/> (e.g. "e1").</summary>
    /// <exception cref="KeyNotFoundException">No such member.</exception>
    public LocalEtcdMember Member(string name) =>
        _members.Find(m => m.Name == name)
        ?? throw new KeyNotFoundException($"No member '{name}' in this etcd cluster (members: {string.Join(", ", _members.Select(m => m.Name))}).");

    /// <summary>
    /// A client's own path to every member: new proxies, so that a test can cut one client (a coordinator) off from
    /// etcd while the others still reach it. Disposed with the cluster if not before.
    /// </summary>
    public LocalEtcdRoute OpenRoute()
    {
        ObjectDisposedException.ThrowIf(_disposed == 1, this);
        var route = new LocalEtcdRoute(_members.Select(m => FaultProxy.Start(m.Host, m.ClientPort)).ToArray());
        lock (_routes)
        {
            _routes.Add(route);
        }

        return route;
    }

    /// <summary>Waits until every running, unfrozen member reports healthy (has a leader, serves linearizable requests).</summary>
    /// <exception cref="TimeoutException">A member stayed unhealthy (no quorum?); the message holds the logs.</exception>
    public async Task WaitForHealthyAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var limit = timeout ?? Options.OperationTimeout;
        var members = _members.Where(m => m.IsRunning && !m.IsFrozen).ToList();
        await Poll.UntilAsync(
            async ct =>
            {
                foreach (var member in members)
                {
                    if (!await EtcdHealth.IsHealthyAsync(member.DirectEndpoint, ct).ConfigureAwait(false))
                    {
                        return false;
                    }
                }

                return true;
            },
            limit,
            () => $"Not every running etcd member ({string.Join(", ", members.Select(m => m.Name))}) was healthy within {limit.TotalSeconds:0} s.\n{DumpLogs(40)}",
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The tails of all member logs, headed by member: print it when a test fails.</summary>
    public string DumpLogs(int linesPerMember = 200)
    {
        var text = new StringBuilder();
        foreach (var member in _members)
        {
            text.AppendLine(member.LogSection(linesPerMember));
        }

        return text.ToString();
    }

    /// <summary>"LocalEtcdCluster e0 (...), e1 (...)".</summary>
    public override string ToString() => $"LocalEtcdCluster {string.Join(", ", _members)}";

    /// <summary>Kills every member (thawing frozen ones), closes the proxies and deletes the directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await Task.Run(KillAndDelete).ConfigureAwait(false);
        List<LocalEtcdRoute> routes;
        lock (_routes)
        {
            routes = [.. _routes];
        }

        foreach (var route in routes)
        {
            await route.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var member in _members)
        {
            await member.Proxy.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The synchronous cleanup of process exit. Blocking by design (no async context is left then).</summary>
    void IKillableCluster.KillNow()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            KillAndDelete();
        }
    }

    /// <summary>Tells the watchdog its owner died, without cleaning up: for tests of the watchdog.</summary>
    internal void SimulateOwnerDeath() => _watchdog.SimulateOwnerDeath();

    /// <summary>etcd's command line for <paramref name="member"/> (the same for every start: etcd ignores the initial-cluster flags once its data exists).</summary>
    internal IEnumerable<string> ArgumentsFor(LocalEtcdMember member)
    {
        var initialCluster = string.Join(',', _members.Select(m => $"{m.Name}={m.PeerUrl}"));
        return
        [
            "--name", member.Name,
            "--data-dir", member.DataDirectory,
            "--listen-client-urls", member.DirectEndpoint,
            "--advertise-client-urls", member.DirectEndpoint,
            "--listen-peer-urls", member.PeerUrl,
            "--initial-advertise-peer-urls", member.PeerUrl,
            "--initial-cluster", initialCluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", _token,
            "--heartbeat-interval", Milliseconds(Options.HeartbeatInterval),
            "--election-timeout", Milliseconds(Options.ElectionTimeout),
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--enable-v2=false",
        ];
    }

    private async Task BuildAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < Options.Members; i++)
        {
            var name = $"{Options.NamePrefix}e{i.ToString(CultureInfo.InvariantCulture)}";
            var directory = Path.Combine(Directory, WorkArea.Sanitize(name));
            System.IO.Directory.CreateDirectory(directory);
            var clientPort = PortAllocator.Next();
            _members.Add(new LocalEtcdMember(this, name, directory, clientPort, PortAllocator.Next(), FaultProxy.Start("127.0.0.1", clientPort)));
        }

        await WorkArea.GiveToServerUserAsync(Directory, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(_members.Select(m => m.StartAsync(cancellationToken))).ConfigureAwait(false);
        await WaitForHealthyAsync(Options.StartTimeout, cancellationToken).ConfigureAwait(false);
    }

    private bool LostPortRace() => _members.Any(m =>
    {
        try
        {
            using var stream = new FileStream(m.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Contains("address already in use", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    });

    private void KillAndDelete()
    {
        try
        {
            foreach (var member in _members)
            {
                member.ThawCore();
            }

            StaleClusterReaper.Remove(Directory);
            foreach (var member in _members)
            {
                member.ForgetProcess();
            }
        }
        finally
        {
            _watchdog.Release();
            LiveClusters.Remove(this);
        }
    }

    private static string LocateEtcd()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("ETCD_BIN") is { Length: > 0 } bin)
        {
            candidates.Add(Path.Combine(bin, "etcd"));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "etcd")));
        candidates.Add("/usr/bin/etcd");
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "No etcd program was found: not in $ETCD_BIN, not on the PATH. Install Debian's 'etcd-server' package "
                + "(./build.sh test does: apt-get install etcd-server etcd-client) or set ETCD_BIN to the directory that holds etcd.");
    }

    private static string Milliseconds(TimeSpan value) => ((long)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}
