using System.Diagnostics;
using System.Globalization;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// One etcd member of a <see cref="LocalEtcdCluster"/>: its addresses, its files, and the faults a test can
/// inflict on it: a clean stop, a crash (SIGKILL), a hang (SIGSTOP), or being cut off from every client (its
/// <see cref="Proxy"/>, which <see cref="LocalEtcdCluster.Endpoints"/> lead through). Peer traffic between members is
/// direct, so a member cut off from clients still takes part in the cluster's quorum.
/// </summary>
public sealed class LocalEtcdMember
{
    private readonly LocalEtcdCluster _cluster;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int? _frozenPid;
    private Process? _process;

    internal LocalEtcdMember(LocalEtcdCluster cluster, string name, string directory, int clientPort, int peerPort, FaultProxy proxy)
    {
        _cluster = cluster;
        Name = name;
        Directory = directory;
        ClientPort = clientPort;
        PeerPort = peerPort;
        Proxy = proxy;
    }

    /// <summary>The member name: "e0", "e1", "e2" (after <see cref="LocalEtcdClusterOptions.NamePrefix"/>).</summary>
    public string Name { get; }

    /// <summary>Always 127.0.0.1: members listen on loopback only.</summary>
    public string Host => "127.0.0.1";

    /// <summary>The port etcd serves clients on (gRPC and HTTP), reached directly, not through <see cref="Proxy"/>.</summary>
    public int ClientPort { get; }

    /// <summary>The port members talk to each other on (raft).</summary>
    public int PeerPort { get; }

    /// <summary>The client URL of the member itself, bypassing <see cref="Proxy"/>: <c>http://127.0.0.1:ClientPort</c>.</summary>
    public string DirectEndpoint => Url(ClientPort);

    /// <summary>The client URL through <see cref="Proxy"/>: what <see cref="LocalEtcdCluster.Endpoints"/> lists.</summary>
    public string Endpoint => Url(Proxy.Port);

    /// <summary>The peer URL, <c>http://127.0.0.1:PeerPort</c>.</summary>
    public string PeerUrl => Url(PeerPort);

    /// <summary>The fault proxy in front of <see cref="ClientPort"/> that every client of <see cref="LocalEtcdCluster.Endpoints"/> goes through.</summary>
    public FaultProxy Proxy { get; }

    /// <summary>The member's directory: its data (<see cref="DataDirectory"/>) and pid file.</summary>
    public string Directory { get; }

    /// <summary>etcd's <c>--data-dir</c>.</summary>
    public string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>The member's log (etcd's stderr; kept until the cluster is disposed).</summary>
    public string LogPath => Directory + ".log";

    /// <summary>Whether the etcd process of this member is alive (frozen counts as running).</summary>
    public bool IsRunning => ProcessId is not null;

    /// <summary>Whether the member is frozen by <see cref="FreezeAsync"/>.</summary>
    public bool IsFrozen => _frozenPid is not null;

    /// <summary>The etcd process id, or null when the member is not running.</summary>
    public int? ProcessId => PidFile.FindRunning(Directory, PidFile.Etcd);

    /// <summary>Starts the member and waits until it serves its client port (not necessarily with a quorum). Does nothing when it runs already.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => _lifecycle.RunAsync(() => StartCoreAsync(cancellationToken), cancellationToken);

    /// <summary>A clean stop (SIGTERM), waiting until the process is gone. A frozen member is thawed first. Does nothing when it is not running.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => EndAsync(Posix.SigTerm, cancellationToken);

    /// <summary>A crash: SIGKILL, no chance to flush or say goodbye to its peers. Does nothing when it is not running.</summary>
    public Task KillAsync(CancellationToken cancellationToken = default) => EndAsync(Posix.SigKill, cancellationToken);

    /// <summary>
    /// Suspends the member (SIGSTOP): a hung server whose TCP connections stay open but nothing answers, to clients
    /// and to its peers alike. Undo with <see cref="ThawAsync"/>; stopping or disposing thaws first.
    /// </summary>
    public Task FreezeAsync(CancellationToken cancellationToken = default) => _lifecycle.RunAsync(
        async () =>
        {
            if (_frozenPid is null)
            {
                var pid = ProcessId ?? throw new InvalidOperationException($"etcd member {Name} is not running, so it cannot be frozen.");
                Posix.Signal(pid, Posix.SigStop);
                _frozenPid = pid;
                await WaitUntilStoppedAsync(pid, cancellationToken).ConfigureAwait(false);
            }
        },
        cancellationToken);

    // kill(SIGSTOP) returns before every thread of the (multi-threaded) etcd process has stopped: wait, bounded, until
    // the kernel reports it stopped, so that a caller's next step meets a frozen member.
    private async Task WaitUntilStoppedAsync(int pid, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 400; i++)
        {
            if (Posix.State(pid) is 'T' or 't' or null)
                return;
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"etcd member {Name} (pid {pid}) did not stop within 2 s of SIGSTOP (state {Posix.State(pid)}).");
    }

    /// <summary>Resumes a frozen member (SIGCONT). Does nothing when it is not frozen.</summary>
    public Task ThawAsync(CancellationToken cancellationToken = default) => _lifecycle.RunAsync(
        () =>
        {
            ThawCore();
            return Task.CompletedTask;
        },
        cancellationToken);

    /// <summary>Cuts every client off from this member (a partition): its proxy blackholes traffic. Undo with <see cref="Heal"/>.</summary>
    public void CutOff() => Proxy.Blackhole();

    /// <summary>Clients' connections to this member are reset and new ones refused, as if it were down, while it keeps its place in the quorum.</summary>
    public void Reject() => Proxy.Reject();

    /// <summary>Clients reach this member again.</summary>
    public void Heal() => Proxy.Heal();

    /// <summary>"e0 (client 127.0.0.1:port via proxy port, peer port)".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Name} (client {Host}:{ClientPort} via {Proxy.Port}, peer {PeerPort})");

    /// <summary>The tail of the member's log, headed by its name.</summary>
    internal string LogSection(int lines = 40)
    {
        string tail;
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            tail = string.Join('\n', reader.ReadToEnd().Split('\n').TakeLast(lines));
        }
        catch (IOException e)
        {
            tail = $"(no log: {e.Message})";
        }

        return $"--- last {lines} lines of etcd member {Name}'s log ({LogPath}) ---\n{tail}\n--- end of {Name}'s log ---";
    }

    /// <summary>Thaws without waiting for the lifecycle lock: for disposal and process exit.</summary>
    internal void ThawCore()
    {
        if (_frozenPid is { } pid)
        {
            Posix.Signal(pid, Posix.SigCont);
            // A runuser wrapper (used where setpriv is missing) stops itself when its child stops.
            if (_process is { } process && process.Id != pid)
            {
                Posix.Signal(process.Id, Posix.SigCont);
            }

            _frozenPid = null;
        }
    }

    internal void ForgetProcess()
    {
        var process = Interlocked.Exchange(ref _process, null);
        process?.Dispose();
    }

    private Task EndAsync(int signal, CancellationToken cancellationToken) => _lifecycle.RunAsync(
        async () =>
        {
            ThawCore();
            if (ProcessId is { } pid)
            {
                Posix.Signal(pid, signal);
                var timeout = _cluster.Options.OperationTimeout;
                await Poll.UntilAsync(
                    _ => Task.FromResult(!Posix.IsAlive(pid)),
                    timeout,
                    () => $"etcd member {Name} did not stop within {timeout.TotalSeconds:0} s.\n{LogSection()}",
                    cancellationToken).ConfigureAwait(false);
            }

            ForgetProcess();
        },
        cancellationToken);

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        if (IsRunning)
        {
            return;
        }

        ForgetProcess();
        var process = Launch();
        var timeout = _cluster.Options.OperationTimeout;
        try
        {
            await Poll.UntilAsync(
                async ct => process.HasExited
                    ? throw new InvalidOperationException($"etcd member {Name} exited during start.\n{LogSection()}")
                    : await EtcdHealth.AnswersAsync(DirectEndpoint, ct).ConfigureAwait(false),
                timeout,
                () => $"etcd member {Name} did not serve {DirectEndpoint} within {timeout.TotalSeconds:0} s.\n{LogSection()}",
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // A half-started member must not stay behind.
            Posix.Signal(process.Id, Posix.SigKill);
            if (ProcessId is { } pid)
            {
                Posix.Signal(pid, Posix.SigKill);
            }

            ForgetProcess();
            throw;
        }
    }

    private Process Launch()
    {
        // The shell writes its own pid (which exec hands on to etcd) where the harness and the watchdog look for it,
        // sends etcd's output to the log, then becomes etcd.
        const string Script = "pidfile=$1; log=$2; shift 2; echo $$ > \"$pidfile\"; exec \"$@\" >> \"$log\" 2>&1 < /dev/null";
        string[] arguments = ["-c", Script, "rds-etcd", Path.Combine(Directory, PidFile.Etcd), LogPath, _cluster.EtcdProgram, .. _cluster.ArgumentsFor(this)];
        var startInfo = Command.CreateStartInfo("/bin/sh", arguments, asServer: true);
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start etcd member {Name}.");
        process.StandardInput.Close();
        _process = process;
        return process;
    }

    private static string Url(int port) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
}
