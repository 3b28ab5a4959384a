using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Pgpool;

/// <summary>
/// One Pgpool-II process tree in front of a <see cref="LocalPgCluster"/>: its configuration generated into a fresh
/// directory, run in the foreground (<c>pgpool -n</c>) as the server user on a free loopback port, in a process group
/// of its own (setsid) so that all its children can be stopped together. It never outlives the harness: disposal stops
/// it (SIGINT, then SIGKILL of the whole group), so does a process-exit handler, and a watchdog shell does so when the
/// harness dies without running any code (its stdin pipe closes).
/// </summary>
internal sealed class PgpoolInstance : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<PgpoolInstance, byte> Live = new();
    private static int _exitHooked;

    private readonly Process _process;
    private readonly Process _watchdog;
    private int _stopped;
    private readonly string _psql;
    private readonly string? _archive;

    private PgpoolInstance(string directory, int port, Process process, Process watchdog, string psql, string? archive)
    {
        _psql = psql;
        _archive = archive;
        Directory = directory;
        Port = port;
        _process = process;
        _watchdog = watchdog;
    }

    /// <summary>The directory holding the configuration, the log, the sockets and the failover script's log.</summary>
    public string Directory { get; }

    /// <summary>The port pgpool accepts clients on (127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The pid of pgpool's main process, which is also its process group.</summary>
    public int ProcessId => _process.Id;

    public string LogPath => Path.Combine(Directory, "pgpool.log");

    /// <summary>The path of the pgpool program: on PATH, else Debian's /usr/sbin.</summary>
    public static string Program =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin")
            .Select(d => Path.Combine(d, "pgpool")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("pgpool was not found on PATH nor in /usr/sbin (./build.sh bench installs Debian's pgpool2 package).");

    /// <summary>What <c>pgpool --version</c> prints, e.g. "pgpool-II version 4.3.5 (tamahomeboshi)".</summary>
    public static Task<string> VersionAsync(CancellationToken cancellationToken) =>
        ExternalProcess.OutputOfAsync(Program, ["--version"], TimeSpan.FromSeconds(30), cancellationToken);

    /// <summary>A connection string to pgpool for <paramref name="database"/>.</summary>
    public string ConnectionString(string database, Action<NpgsqlConnectionStringBuilder>? configure = null)
    {
        var csb = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = LocalPgCluster.SuperUser, Database = database };
        configure?.Invoke(csb);
        return csb.ConnectionString;
    }

    /// <summary>
    /// Writes the configuration for <paramref name="cluster"/>, starts pgpool and returns once it accepts connections
    /// and reports a primary and every node up.
    /// </summary>
    /// <param name="archive">Where disposal copies the configuration and logs for later inspection (null: nowhere).</param>
    public static async Task<PgpoolInstance> StartAsync(LocalPgCluster cluster, PgTools tools, string? archive, CancellationToken cancellationToken)
    {
        // Under /tmp, not the caller's temp directory: the server user must reach it, and socket paths must stay short.
        var directory = Path.Combine("/tmp", $"rds-bench-pgpool-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}");
        System.IO.Directory.CreateDirectory(directory);
        var port = FreePort.Next();
        await File.WriteAllTextAsync(Path.Combine(directory, PgpoolConfig.ConfFile), PgpoolConfig.RenderConf(cluster, directory, port, FreePort.Next()), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, PgpoolConfig.HbaFile), PgpoolConfig.RenderHba(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, PgpoolConfig.PcpFile), PgpoolConfig.RenderPcp(), cancellationToken);
        // Empty: trust authentication needs no passwords, but pgpool warns every second without the file.
        await File.WriteAllTextAsync(Path.Combine(directory, PgpoolConfig.PasswordFile), "", cancellationToken);
        var script = Path.Combine(directory, PgpoolConfig.FailoverScript);
        await File.WriteAllTextAsync(script, PgpoolConfig.RenderFailoverScript(cluster, directory, tools.Psql), cancellationToken);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await ExternalProcess.GiveToServerUserAsync(directory, cancellationToken);

        // setsid makes pgpool the leader of a new process group (it execs: this process is not a group leader, so setsid
        // does not fork); setpriv switches to the server user and execs; the shell only redirects output and execs.
        var inner = ExternalProcess.CreateStartInfo(
            "/bin/sh",
            ["-c", "exec \"$0\" -n -D -f \"$1\" -a \"$2\" -F \"$3\" >> \"$4\" 2>&1 < /dev/null",
                Program,
                Path.Combine(directory, PgpoolConfig.ConfFile),
                Path.Combine(directory, PgpoolConfig.HbaFile),
                Path.Combine(directory, PgpoolConfig.PcpFile),
                Path.Combine(directory, "pgpool.log")],
            asServer: true);
        var startInfo = ExternalProcess.CreateStartInfo("setsid", inner.ArgumentList.Prepend(inner.FileName), asServer: false);
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("Could not start pgpool.");
        process.StandardInput.Close();
        var watchdog = StartWatchdog(process.Id);
        var instance = new PgpoolInstance(directory, port, process, watchdog, tools.Psql, archive);
        HookProcessExit();
        Live.TryAdd(instance, 0);
        try
        {
            await instance.WaitUntilReadyAsync(cluster.Nodes.Count, TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }

        return instance;
    }

    /// <summary>
    /// <c>SHOW POOL_NODES</c>. pgpool answers its SHOW commands only in the simple query protocol, which Npgsql does not
    /// speak (it would forward the statement to a server), so this runs psql.
    /// </summary>
    public async Task<IReadOnlyList<PoolNode>> ShowPoolNodesAsync(CancellationToken cancellationToken)
    {
        var result = await ExternalProcess.RunAsync(_psql,
            ["-X", "-A", "-F", "|", "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", LocalPgCluster.SuperUser,
                "-d", LocalPgCluster.DefaultDatabase, "-v", "ON_ERROR_STOP=1", "-c", "SHOW POOL_NODES"],
            TimeSpan.FromSeconds(10), cancellationToken);
        if (!result.Succeeded)
            throw new IOException($"psql SHOW POOL_NODES failed ({result.ExitCode}): {result.Output.Trim()}");
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var header = lines[0].Split('|');
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new IOException($"SHOW POOL_NODES has no column {name}: {lines[0]}");
        var (id, port, status, role, selects) = (Column("node_id"), Column("port"), Column("status"), Column("role"), Column("select_cnt"));
        var nodes = new List<PoolNode>();
        foreach (var line in lines.Skip(1).Where(l => !l.StartsWith('(')))
        {
            var f = line.Split('|');
            nodes.Add(new PoolNode(
                int.Parse(f[id], CultureInfo.InvariantCulture),
                int.Parse(f[port], CultureInfo.InvariantCulture),
                f[status],
                f[role],
                long.Parse(f[selects], CultureInfo.InvariantCulture)));
        }

        return nodes;
    }

    /// <summary>The failover script's log, or "" when it never ran.</summary>
    public string ReadFailoverLog()
    {
        var path = Path.Combine(Directory, PgpoolConfig.FailoverLog);
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    /// <summary>The last <paramref name="lines"/> lines of pgpool's own log.</summary>
    public string ReadLogTail(int lines = 40) =>
        File.Exists(LogPath) ? string.Join('\n', File.ReadLines(LogPath).TakeLast(lines)) : "(no log)";

    public async ValueTask DisposeAsync()
    {
        await Task.Run(Stop);
        if (_archive is not null)
            Archive(_archive);
        WorkDirectory.TryDelete(Directory);
    }

    private void Archive(string destination)
    {
        try
        {
            System.IO.Directory.CreateDirectory(destination);
            foreach (var name in new[] { PgpoolConfig.ConfFile, PgpoolConfig.HbaFile, PgpoolConfig.FailoverScript, PgpoolConfig.FailoverLog, "pgpool.log" })
            {
                var source = Path.Combine(Directory, name);
                if (File.Exists(source))
                    File.Copy(source, Path.Combine(destination, name), overwrite: true);
            }
        }
        catch (IOException)
        {
            // Diagnostics only: a failed copy must not fail the run.
        }
    }

    /// <summary>SIGINT (pgpool's fast shutdown) to the main process, SIGKILL to the whole group after 5 s. Blocking, bounded.</summary>
    private void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
            return;
        try
        {
            var group = _process.Id;
            Signals.Process(group, Signals.SigInt);
            var clock = Stopwatch.StartNew();
            while (Signals.GroupAlive(group) && clock.Elapsed < TimeSpan.FromSeconds(5))
                Thread.Sleep(20);
            Signals.Group(group, Signals.SigKill);
            while (Signals.GroupAlive(group) && clock.Elapsed < TimeSpan.FromSeconds(10))
                Thread.Sleep(20);
            _process.WaitForExit(1000);
        }
        finally
        {
            ReleaseWatchdog();
            _process.Dispose();
            Live.TryRemove(this, out _);
        }
    }

    private async Task WaitUntilReadyAsync(int nodes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process.HasExited)
                throw new InvalidOperationException($"pgpool exited with {_process.ExitCode} at start.\n{ReadLogTail()}");
            try
            {
                var status = await ShowPoolNodesAsync(cancellationToken);
                if (status.Count == nodes && status.All(n => n.Status is "up" or "waiting") && status.Any(n => n.Role == "primary"))
                    return;
                last = new InvalidOperationException("nodes: " + string.Join(", ", status));
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                last = e;
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"pgpool did not become ready within {timeout.TotalSeconds:0} s (last: {last?.Message}).\n{ReadLogTail()}");
    }

    // The same idea as LocalPgCluster's watchdog: it blocks on a pipe only this process writes; when the process dies
    // the pipe closes and the watchdog kills pgpool's process group, unless told "release" first.
    private static Process StartWatchdog(int processGroup)
    {
        const string script = """
            trap '' HUP INT TERM QUIT PIPE
            exec >/dev/null 2>&1
            IFS= read -r word
            [ "$word" = release ] && exit 0
            kill -s KILL -- "-$1"
            """;
        var startInfo = ExternalProcess.CreateStartInfo("/bin/sh", ["-c", script, "rds-bench-pgpool-watchdog", processGroup.ToString(CultureInfo.InvariantCulture)], asServer: false);
        return Process.Start(startInfo) ?? throw new InvalidOperationException("Could not start the pgpool watchdog shell.");
    }

    private void ReleaseWatchdog()
    {
        try
        {
            _watchdog.StandardInput.Write("release\n");
            _watchdog.StandardInput.Close();
        }
        catch (IOException)
        {
            // Gone already.
        }

        _watchdog.Dispose();
    }

    private static void HookProcessExit()
    {
        if (Interlocked.Exchange(ref _exitHooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var instance in Live.Keys)
                    instance.Stop();
            };
        }
    }
}

/// <summary>One row of SHOW POOL_NODES.</summary>
internal sealed record PoolNode(int NodeId, int Port, string Status, string Role, long SelectCount);
