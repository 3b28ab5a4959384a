using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// One PostgreSQL server of a <see cref="LocalPgCluster"/>: its address, its files, and the
/// faults a test can inflict on it (stop, freeze, paused replay) or the role changes it can
/// go through (promote, follow a new primary).
/// </summary>
public sealed class LocalPgNode
{
    private readonly LocalPgCluster _cluster;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private int? _frozenPid;
    private Process? _server;

    internal LocalPgNode(LocalPgCluster cluster, string name, bool isInitialStandby, string applicationName, string dataDirectory, string logPath, int port)
    {
        _cluster = cluster;
        Name = name;
        IsInitialStandby = isInitialStandby;
        ApplicationName = applicationName;
        SlotName = WorkArea.Sanitize(name);
        DataDirectory = dataDirectory;
        LogPath = logPath;
        Port = port;
    }

    /// <summary>The node name: "n0" for the initial primary, "n1", "n2", ... for the standbys (after <see cref="LocalPgClusterOptions.NamePrefix"/>).</summary>
    public string Name { get; }

    /// <summary>The <c>application_name</c> this node streams under as a standby (the node name unless overridden).</summary>
    public string ApplicationName { get; }

    /// <summary>The physical replication slot this node streams through as a standby.</summary>
    public string SlotName { get; }

    /// <summary>Always 127.0.0.1: the servers listen on loopback only.</summary>
    public string Host => "127.0.0.1";

    /// <summary>The TCP port the server listens on.</summary>
    public int Port { get; private set; }

    /// <summary>The data directory (PGDATA).</summary>
    public string DataDirectory { get; }

    /// <summary>The server log file (stderr of the postmaster; kept until the cluster is disposed).</summary>
    public string LogPath { get; }

    /// <summary>An Npgsql connection string for this node alone (default pooling, superuser, database "postgres").</summary>
    public string ConnectionString => CreateConnectionStringBuilder().ConnectionString;

    /// <summary>Whether the postmaster of this node is alive (frozen counts as running).</summary>
    public bool IsRunning => Postmaster.FindRunning(DataDirectory) is not null;

    /// <summary>Whether the node is frozen by <see cref="FreezeAsync"/>.</summary>
    public bool IsFrozen => _frozenPid is not null;

    /// <summary>The postmaster's process id, or null when the node is not running.</summary>
    public int? ProcessId => Postmaster.FindRunning(DataDirectory);

    internal bool IsInitialStandby { get; }

    /// <summary>The cluster this node belongs to.</summary>
    internal LocalPgCluster Cluster => _cluster;

    /// <summary>How the last <see cref="RejoinAsync"/> brought this node back, or null before any.</summary>
    internal RejoinOutcome? LastRejoin { get; private set; }

    // The harness's own statements: never pooled (a pooled connection would outlive restarts
    // and freezes), bounded, and named so that tests can tell them from the library's traffic.
    internal string AdminConnectionString => ConnectionStringWith(b =>
    {
        b.Pooling = false;
        b.Timeout = 5;
        b.CommandTimeout = 30;
        b.ApplicationName = "RoutingDataSource.Testing";
    });

    /// <summary>A new builder holding <see cref="ConnectionString"/>, to adjust and use.</summary>
    public NpgsqlConnectionStringBuilder CreateConnectionStringBuilder() => new()
    {
        Host = Host,
        Port = Port,
        Username = LocalPgCluster.SuperUser,
        Database = LocalPgCluster.DefaultDatabase,
    };

    /// <summary>
    /// <see cref="ConnectionString"/> with changes, e.g.
    /// <c>node.ConnectionStringWith(b => { b.Pooling = false; b.Timeout = 2; })</c>.
    /// </summary>
    public string ConnectionStringWith(Action<NpgsqlConnectionStringBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = CreateConnectionStringBuilder();
        configure(builder);
        return builder.ConnectionString;
    }

    /// <summary>A connection string that reaches this node through <paramref name="proxy"/> (which must forward to it).</summary>
    public string ConnectionStringVia(FaultProxy proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        return ConnectionStringWith(b =>
        {
            b.Host = proxy.Host;
            b.Port = proxy.Port;
        });
    }

    /// <summary>Starts the server and waits until it accepts connections. Does nothing when it runs already.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => StartCoreAsync(portMayMove: false, cancellationToken);

    /// <summary>
    /// Stops the server and waits until its postmaster is gone: immediate shutdown (what
    /// <c>pg_ctl stop -m immediate</c> does: a crash, no checkpoint, connections cut) or, with
    /// <paramref name="immediate"/> false, fast shutdown (<c>-m fast</c>: clean, sessions
    /// cancelled). A frozen node is thawed first. Does nothing when it is not running.
    /// </summary>
    public async Task StopAsync(bool immediate = true, CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThawCore();
            if (Postmaster.FindRunning(DataDirectory) is not { } pid)
            {
                ForgetServerProcess();
                return;
            }

            // The signals pg_ctl sends; sent directly, the wait below notices the exit at once.
            Posix.Signal(pid, immediate ? Posix.SigQuit : Posix.SigInt);
            var timeout = _cluster.Options.OperationTimeout;
            await Poll.UntilAsync(
                _ => Task.FromResult(!Posix.IsAlive(pid)),
                timeout,
                () => $"Node {Name} did not stop within {timeout.TotalSeconds:0} s.\n{LogSection()}",
                cancellationToken).ConfigureAwait(false);
            ForgetServerProcess();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>A clean restart: fast shutdown, then start.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(immediate: false, cancellationToken).ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Suspends the postmaster and all its processes (SIGSTOP): a hung server. TCP connections
    /// still open at the kernel level but nothing answers. Undo with <see cref="ThawAsync"/>;
    /// stopping or disposing thaws first.
    /// </summary>
    public async Task FreezeAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_frozenPid is not null)
            {
                return;
            }

            var pid = Postmaster.FindRunning(DataDirectory)
                ?? throw new InvalidOperationException($"Node {Name} is not running, so it cannot be frozen.");
            await Task.Run(() => Postmaster.Freeze(pid), cancellationToken).ConfigureAwait(false);
            _frozenPid = pid;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Resumes a frozen node (SIGCONT). Does nothing when it is not frozen.</summary>
    public async Task ThawAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThawCore();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>
    /// Pauses WAL replay on this standby (<c>pg_wal_replay_pause()</c>): WAL still arrives, but
    /// nothing new becomes visible, so replay lag grows with every write on the primary.
    /// </summary>
    public Task PauseReplayAsync(CancellationToken cancellationToken = default) =>
        Sql.ExecuteAsync(AdminConnectionString, "SELECT pg_wal_replay_pause()", cancellationToken);

    /// <summary>Resumes WAL replay (<c>pg_wal_replay_resume()</c>).</summary>
    public Task ResumeReplayAsync(CancellationToken cancellationToken = default) =>
        Sql.ExecuteAsync(AdminConnectionString, "SELECT pg_wal_replay_resume()", cancellationToken);

    /// <summary>
    /// Promotes this standby (<c>pg_promote(true, ...)</c>) and waits until it accepts writes.
    /// It then runs on a new timeline. Stop the old primary first unless a split brain is the point.
    /// </summary>
    public async Task PromoteAsync(CancellationToken cancellationToken = default)
    {
        var timeout = _cluster.Options.OperationTimeout;
        var promoted = await Sql.ScalarAsync<bool>(
            AdminConnectionString, $"SELECT pg_promote(true, {Seconds(timeout)})", cancellationToken).ConfigureAwait(false);
        if (!promoted)
        {
            throw new InvalidOperationException($"pg_promote() on node {Name} did not complete within {timeout.TotalSeconds:0} s.\n{LogSection()}");
        }

        await Poll.UntilAsync(
            async ct => !await IsInRecoveryAsync(ct).ConfigureAwait(false),
            timeout,
            () => $"Node {Name} was promoted but did not become writable within {timeout.TotalSeconds:0} s.\n{LogSection()}",
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes this standby stream from <paramref name="newPrimary"/> (after a promotion): creates
    /// this node's slot there, points <c>primary_conninfo</c> and <c>primary_slot_name</c> at it
    /// with ALTER SYSTEM, reloads, and waits until <paramref name="newPrimary"/> reports it streaming.
    /// The standby must not have replayed past the point where <paramref name="newPrimary"/> forked.
    /// </summary>
    public async Task FollowAsync(LocalPgNode newPrimary, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(newPrimary);
        if (ReferenceEquals(newPrimary, this))
        {
            throw new ArgumentException("A node cannot follow itself.", nameof(newPrimary));
        }

        await EnsureSlotOnAsync(newPrimary, cancellationToken).ConfigureAwait(false);

        // ALTER SYSTEM refuses to run inside a transaction block, so one statement per round trip.
        foreach (var statement in new[]
        {
            $"ALTER SYSTEM SET primary_conninfo = {NodeSettings.SqlLiteral(NodeSettings.PrimaryConnectionInfo(newPrimary, this))}",
            $"ALTER SYSTEM SET primary_slot_name = {NodeSettings.SqlLiteral(SlotName)}",
            "SELECT pg_reload_conf()",
        })
        {
            await Sql.ExecuteAsync(AdminConnectionString, statement, cancellationToken).ConfigureAwait(false);
        }

        await WaitUntilStreamingFromAsync(newPrimary, logStart: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings this node, an old primary (crashed, stopped, frozen, or still running fenced on an old timeline),
    /// back as a streaming standby of <paramref name="newPrimary"/>, with its own port, application name and
    /// slot, and waits until <paramref name="newPrimary"/> reports it streaming. The steps are those of the
    /// README's "Rejoining an old primary": an immediate stop (a clean one would recycle WAL that pg_rewind
    /// reads), this node's slot on <paramref name="newPrimary"/>, a CHECKPOINT there (so that its control file
    /// names its new timeline),
    /// <c>pg_rewind</c>, this node's own configuration files put back, <c>primary_conninfo</c> (with
    /// application_name) and <c>primary_slot_name</c>, standby.signal, start. When pg_rewind fails, or the
    /// rewound node cannot come up (the WAL it needs is gone from <paramref name="newPrimary"/>), the data
    /// directory is replaced by a fresh <c>pg_basebackup</c> instead. Anything written on this node after the
    /// fork is discarded.
    /// </summary>
    /// <remarks>Not to be run concurrently with other lifecycle operations on this node.</remarks>
    /// <exception cref="InvalidOperationException"><paramref name="newPrimary"/> is not a primary, or neither way worked (the message holds both logs).</exception>
    public async Task RejoinAsync(LocalPgNode newPrimary, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(newPrimary);
        if (ReferenceEquals(newPrimary, this))
        {
            throw new ArgumentException("A node cannot rejoin itself.", nameof(newPrimary));
        }

        if (!ReferenceEquals(newPrimary._cluster, _cluster))
        {
            throw new ArgumentException($"Node {newPrimary.Name} belongs to another cluster.", nameof(newPrimary));
        }

        if (await newPrimary.IsInRecoveryAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Node {newPrimary.Name} is in recovery, not a primary: {Name} cannot rejoin it.");
        }

        // Immediately, not cleanly: a shutdown checkpoint would recycle this node's WAL back to the last checkpoint
        // before the fork, which pg_rewind reads ("could not find previous WAL record"). The crash recovery that
        // pg_rewind then runs keeps all of it too (wal_keep_size), until the configuration is put back.
        await StopAsync(immediate: true, cancellationToken).ConfigureAwait(false);
        var ownConfiguration = Rejoin.SaveConfiguration(DataDirectory);
        await Rejoin.KeepWalThroughRecoveryAsync(DataDirectory, cancellationToken).ConfigureAwait(false);
        // Before the CHECKPOINT below can recycle it: the WAL this node will need from now on stays on newPrimary.
        await EnsureSlotOnAsync(newPrimary, cancellationToken).ConfigureAwait(false);
        await CheckpointUntilControlFileShowsTimelineAsync(newPrimary, cancellationToken).ConfigureAwait(false);

        var timeout = _cluster.Options.OperationTimeout;
        var rewind = await Rejoin.RewindAsync(_cluster.Binaries, DataDirectory, SourceConnectionInfo(newPrimary), timeout, cancellationToken).ConfigureAwait(false);
        string rewindProblem;
        if (rewind.Succeeded)
        {
            await ConfigureAsStandbyOfAsync(newPrimary, ownConfiguration, cancellationToken).ConfigureAwait(false);
            if (await TryStartAsStandbyOfAsync(newPrimary, cancellationToken).ConfigureAwait(false) is not { } startProblem)
            {
                LastRejoin = new RejoinOutcome(RejoinMethod.Rewind, null);
                return;
            }

            rewindProblem = $"pg_rewind succeeded, but the rewound node did not come up as a standby: {startProblem}\n{rewind.Output}";
            await StopAsync(immediate: true, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            rewindProblem = $"pg_rewind failed (exit code {rewind.ExitCode}):\n{rewind.Output}";
        }

        WorkArea.TryDelete(DataDirectory);
        if (Directory.Exists(DataDirectory))
        {
            throw new InvalidOperationException($"Node {Name}: could not remove {DataDirectory} for a fresh base backup after: {rewindProblem}");
        }

        var backup = await Rejoin.BaseBackupAsync(_cluster.Binaries, DataDirectory, SourceConnectionInfo(newPrimary), SlotName, timeout, cancellationToken).ConfigureAwait(false);
        if (!backup.Succeeded)
        {
            throw new InvalidOperationException($"Node {Name} could not rejoin {newPrimary.Name}. {rewindProblem}\npg_basebackup failed too (exit code {backup.ExitCode}):\n{backup.Output}");
        }

        await ConfigureAsStandbyOfAsync(newPrimary, ownConfiguration, cancellationToken).ConfigureAwait(false);
        if (await TryStartAsStandbyOfAsync(newPrimary, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            throw new InvalidOperationException($"Node {Name} could not rejoin {newPrimary.Name}. {rewindProblem}\nAfter a fresh base backup: {problem}");
        }

        LastRejoin = new RejoinOutcome(RejoinMethod.BaseBackup, rewindProblem);
    }

    /// <summary>
    /// Runs a statement on this node and returns the rows affected. Each call opens a fresh,
    /// unpooled superuser connection with application_name "RoutingDataSource.Testing", so it
    /// works across restarts and never shows up in a tested pool.
    /// </summary>
    public Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken = default) =>
        Sql.ExecuteAsync(AdminConnectionString, sql, cancellationToken);

    /// <summary>
    /// Runs a query on this node (connection as for <see cref="ExecuteAsync"/>) and returns the
    /// first column of the first row, read as <typeparamref name="T"/>; default when there is no row or it is NULL.
    /// </summary>
    public Task<T?> ScalarAsync<T>(string sql, CancellationToken cancellationToken = default) =>
        Sql.ScalarAsync<T>(AdminConnectionString, sql, cancellationToken);

    /// <summary><c>pg_is_in_recovery()</c>: true on a standby.</summary>
    public Task<bool> IsInRecoveryAsync(CancellationToken cancellationToken = default) =>
        Sql.ScalarAsync<bool>(AdminConnectionString, "SELECT pg_is_in_recovery()", cancellationToken);

    /// <summary>
    /// The timeline this node is on, valid right after a promotion (unlike
    /// <c>pg_control_checkpoint()</c>, which changes only at the next checkpoint): on a primary
    /// the timeline of its current WAL file; on a standby the timeline it last received, else
    /// that of its last restartpoint.
    /// </summary>
    public Task<int> GetTimelineAsync(CancellationToken cancellationToken = default) =>
        Sql.ScalarAsync<int>(
            AdminConnectionString,
            """
            SELECT CASE WHEN pg_is_in_recovery()
                THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver WHERE received_tli > 0),
                              (SELECT timeline_id FROM pg_control_checkpoint()))
                ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
            END
            """,
            cancellationToken);

    /// <summary>The WAL position of this node: <c>pg_current_wal_lsn()</c> on a primary, <c>pg_last_wal_replay_lsn()</c> on a standby.</summary>
    public Task<NpgsqlLogSequenceNumber> GetWalPositionAsync(CancellationToken cancellationToken = default) =>
        Sql.ScalarAsync<NpgsqlLogSequenceNumber>(
            AdminConnectionString,
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END",
            cancellationToken);

    /// <summary>Waits until this node has replayed (a primary: written) WAL up to <paramref name="position"/>.</summary>
    public Task WaitForReplayAsync(NpgsqlLogSequenceNumber position, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var limit = timeout ?? _cluster.Options.OperationTimeout;
        return Poll.UntilAsync(
            async ct => await GetWalPositionAsync(ct).ConfigureAwait(false) >= position,
            limit,
            () => $"Node {Name} did not replay up to {position} within {limit.TotalSeconds:0.#} s (replay paused or not streaming?).\n{LogSection()}",
            cancellationToken);
    }

    /// <summary>The last <paramref name="lines"/> lines of the server log.</summary>
    public string ReadLogTail(int lines = 50)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lines);
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            // Logs of test servers are small, but never read more than the end of one.
            const int MaxBytes = 1 << 20;
            if (stream.Length > MaxBytes)
            {
                stream.Seek(-MaxBytes, SeekOrigin.End);
            }

            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            var count = all.Length > 0 && all[^1].Length == 0 ? all.Length - 1 : all.Length;
            return string.Join('\n', all.Take(count).Skip(Math.Max(0, count - lines)));
        }
        catch (FileNotFoundException)
        {
            return "(no log yet)";
        }
        catch (DirectoryNotFoundException)
        {
            return "(log deleted)";
        }
    }

    /// <summary>"name (127.0.0.1:port)".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({Host}:{Port})");

    /// <summary>A headed log tail for exception messages.</summary>
    internal string LogSection(int lines = 40) => $"--- last {lines} lines of {Name}'s log ({LogPath}) ---\n{ReadLogTail(lines)}\n--- end of {Name}'s log ---";

    private Task EnsureSlotOnAsync(LocalPgNode primary, CancellationToken cancellationToken) =>
        Sql.ExecuteAsync(
            primary.AdminConnectionString,
            "SELECT pg_create_physical_replication_slot($1::name, true) WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1::name)",
            cancellationToken,
            SlotName);

    // Right after a promotion the control file still names the old timeline until a checkpoint completes;
    // pg_rewind reads the source's timeline from it, and with the old one it wrongly finds nothing to rewind
    // (then the node cannot start: "requested timeline N does not contain minimum recovery point").
    private static Task CheckpointUntilControlFileShowsTimelineAsync(LocalPgNode primary, CancellationToken cancellationToken)
    {
        var timeout = primary._cluster.Options.OperationTimeout;
        return Poll.UntilAsync(
            async ct =>
            {
                await Sql.ExecuteAsync(primary.AdminConnectionString, "CHECKPOINT", ct).ConfigureAwait(false);
                var inControlFile = await Sql.ScalarAsync<int>(primary.AdminConnectionString, "SELECT timeline_id FROM pg_control_checkpoint()", ct).ConfigureAwait(false);
                return inControlFile == await primary.GetTimelineAsync(ct).ConfigureAwait(false);
            },
            timeout,
            () => $"The control file of {primary.Name} did not show its current timeline after CHECKPOINT within {timeout.TotalSeconds:0} s.\n{primary.LogSection()}",
            cancellationToken);
    }

    // pg_rewind and pg_basebackup read the source as the superuser (pg_rewind needs superuser, or EXECUTE on
    // pg_ls_dir, pg_stat_file, pg_read_binary_file; pg_basebackup the REPLICATION attribute).
    private static string SourceConnectionInfo(LocalPgNode source) =>
        string.Create(CultureInfo.InvariantCulture, $"host={source.Host} port={source.Port} user={LocalPgCluster.SuperUser} dbname={LocalPgCluster.DefaultDatabase} connect_timeout=5");

    private async Task ConfigureAsStandbyOfAsync(LocalPgNode primary, Dictionary<string, byte[]> ownConfiguration, CancellationToken cancellationToken)
    {
        // A data directory lost in an earlier, failed rejoin has no settings file of its own left to keep.
        if (!ownConfiguration.ContainsKey(ClusterTemplate.NodeSettingsFile))
        {
            await _cluster.WriteSettingsAsync(this, cancellationToken).ConfigureAwait(false);
        }

        await Rejoin.WriteStandbyConfigurationAsync(
            DataDirectory, ownConfiguration, NodeSettings.PrimaryConnectionInfo(primary, this), SlotName, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts this node as a standby and waits until <paramref name="primary"/> sees it streaming; the reason when it cannot.</summary>
    private async Task<string?> TryStartAsStandbyOfAsync(LocalPgNode primary, CancellationToken cancellationToken)
    {
        var logStart = LogLength();
        try
        {
            await StartCoreAsync(portMayMove: false, cancellationToken, giveUpOnHopelessLog: true).ConfigureAwait(false);
            await WaitUntilStreamingFromAsync(primary, logStart, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is HopelessStartException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            return $"{e.Message}\n{ReadLogFrom(logStart)}";
        }
    }

    /// <summary>
    /// Waits until <paramref name="primary"/> lists this node as streaming. With <paramref name="logStart"/>,
    /// gives up at once when this node's log since then says it never will (<see cref="HopelessStartException"/>).
    /// </summary>
    private Task WaitUntilStreamingFromAsync(LocalPgNode primary, long? logStart, CancellationToken cancellationToken)
    {
        var timeout = _cluster.Options.OperationTimeout;
        return Poll.UntilAsync(
            async ct =>
            {
                if (logStart is { } start && Rejoin.FindHopelessStart(ReadLogFrom(start)) is { } line)
                {
                    throw new HopelessStartException(line);
                }

                return await Sql.ScalarAsync<bool>(
                    primary.AdminConnectionString,
                    "SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming')",
                    ct,
                    ApplicationName).ConfigureAwait(false);
            },
            timeout,
            () => $"Node {Name} did not start streaming from {primary.Name} within {timeout.TotalSeconds:0} s.\n{LogSection()}\n{primary.LogSection()}",
            cancellationToken);
    }

    private long LogLength() => File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0;

    private string ReadLogFrom(long offset)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// Starts the server and waits until it accepts connections. During cluster start the port
    /// may be taken by another process between allocation and bind: then, if
    /// <paramref name="portMayMove"/>, a new port is tried.
    /// </summary>
    /// <remarks>
    /// The postmaster is started directly, not through pg_ctl, so that it stays a child of this
    /// process: this process reaps it when it exits (pg_ctl would orphan it to an init that may
    /// never reap, leaving zombies) and a process-tree kill of the test host reaches it.
    /// Readiness is read from postmaster.pid, as pg_ctl does, but polled faster.
    /// With <paramref name="giveUpOnHopelessLog"/>, a start whose log says the server will never get there
    /// (a standby whose WAL is gone) ends at once with a <see cref="HopelessStartException"/>.
    /// </remarks>
    internal async Task StartCoreAsync(bool portMayMove, CancellationToken cancellationToken, bool giveUpOnHopelessLog = false)
    {
        await _lifecycle.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                if (IsRunning)
                {
                    return;
                }

                ForgetServerProcess();
                var logStart = LogLength();
                var server = LaunchPostmaster();
                var timeout = _cluster.Options.OperationTimeout;
                try
                {
                    await Poll.UntilAsync(
                        _ => Task.FromResult(server.HasExited ? throw new ServerExitedException()
                            : giveUpOnHopelessLog && Rejoin.FindHopelessStart(ReadLogFrom(logStart)) is { } line ? throw new HopelessStartException(line)
                            : IsAcceptingConnections()),
                        timeout,
                        () => $"Node {Name} did not accept connections within {timeout.TotalSeconds:0} s.\n{LogSection()}",
                        cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (ServerExitedException)
                {
                    ForgetServerProcess();
                    if (portMayMove && attempt < 4 && LostPortRace(logStart))
                    {
                        Port = PortAllocator.Next();
                        await _cluster.WriteSettingsAsync(this, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    throw new InvalidOperationException($"Node {Name} failed to start on port {Port}.\n{LogSection()}");
                }
                catch
                {
                    // Timed out or cancelled: a half-started server must not stay behind.
                    Postmaster.KillImmediately([DataDirectory], TimeSpan.FromSeconds(5));
                    ForgetServerProcess();
                    throw;
                }
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Lets go of the exited process that wrapped the postmaster.</summary>
    internal void ForgetServerProcess()
    {
        var server = Interlocked.Exchange(ref _server, null);
        server?.Dispose();
    }

    /// <summary>Thaws without waiting for the lifecycle lock: for disposal and process exit.</summary>
    internal void ThawCore()
    {
        if (_frozenPid is { } pid)
        {
            Postmaster.Thaw(pid);
            // A runuser wrapper (used where setpriv is missing) stops itself when its child stops.
            if (_server is { } server && server.Id != pid)
            {
                Posix.Signal(server.Id, Posix.SigCont);
            }

            _frozenPid = null;
        }
    }

    private Process LaunchPostmaster()
    {
        // The shell only redirects the postmaster's output to the log file, then becomes it (exec).
        var startInfo = Command.CreateStartInfo(
            "/bin/sh",
            ["-c", "exec \"$0\" -D \"$1\" >> \"$2\" 2>&1 < /dev/null", _cluster.Binaries.Postgres, DataDirectory, LogPath],
            asServer: true);
        var server = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start the postmaster of node {Name}.");
        server.StandardInput.Close();
        _server = server;
        return server;
    }

    // postmaster.pid line 8 is the status pg_ctl waits for: "ready" (primary) or "standby" (hot standby open for reads).
    private bool IsAcceptingConnections()
    {
        try
        {
            using var stream = new FileStream(Path.Combine(DataDirectory, "postmaster.pid"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var lines = reader.ReadToEnd().Split('\n');
            return lines.Length > 7 && lines[7].Trim() is "ready" or "standby";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private bool LostPortRace(long logStart)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(logStart, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd();
            return text.Contains("Address already in use", StringComparison.Ordinal)
                || text.Contains("could not create any TCP/IP sockets", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private sealed class ServerExitedException : Exception;

    private sealed class HopelessStartException(string logLine) : Exception($"The server log says it cannot come up: {logLine}");

    private static string Seconds(TimeSpan timeout) => ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
