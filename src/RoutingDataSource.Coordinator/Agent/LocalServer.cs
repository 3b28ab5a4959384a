using System.Globalization;
using System.Text;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>
/// The one server an agent acts on, through its own binaries and files only: <c>pg_ctl</c>, <c>pg_controldata</c>,
/// <c>pg_rewind</c>, <c>pg_basebackup</c>, and the data directory's configuration files. Every path it touches is
/// derived from <see cref="AgentOptions.DataDirectory"/>: the data directory, its <c>.new</c> and <c>.old</c>
/// siblings during a rebuild, its <c>.agent-conf</c> copy of the configuration files, its log and term file.
/// </summary>
internal sealed class LocalServer(AgentOptions options)
{
    private const string AutoConf = "postgresql.auto.conf";

    // What a server's log says when it can never come up as a standby of that upstream as it is: give up at once.
    private static readonly string[] Hopeless =
    [
        "has already been removed", "does not contain minimum recovery point", "is not a child of database system timeline",
        "forked off current database system timeline", "could not locate required checkpoint record", "could not locate a valid checkpoint record",
    ];

    public string DataDirectory { get; } = Path.GetFullPath(options.DataDirectory);

    /// <summary>Where the base backup of a rebuild is made, next to the data directory.</summary>
    public string NewDirectory => DataDirectory + ".new";

    /// <summary>Where the replaced data directory is kept until its successor streams.</summary>
    public string AsideDirectory => DataDirectory + ".old";

    /// <summary>The copy of the server's own configuration files, taken whenever the data directory holds them.</summary>
    public string ConfigurationCopy => DataDirectory + ".agent-conf";

    private string Bin(string program) => Path.Combine(options.BinDirectory, program);

    public async Task<LocalFacts> FactsAsync(long highestTerm, string? busy, CancellationToken ct)
    {
        var exists = File.Exists(Path.Combine(DataDirectory, "PG_VERSION"));
        var pid = PostmasterPid();
        string? state = null, system = null, problem = null, checkpoint = null;
        int? timeline = null;
        bool? hints = null, checksums = null;
        if (exists)
        {
            var control = await ProgramRun.RunAsync(Bin("pg_controldata"), ["-D", DataDirectory], TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            if (control.Succeeded)
            {
                var values = control.Output.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                    .GroupBy(p => p[0].Trim(), StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First()[1].Trim(), StringComparer.Ordinal);
                state = values.GetValueOrDefault("Database cluster state");
                system = values.GetValueOrDefault("Database system identifier");
                checkpoint = values.GetValueOrDefault("Latest checkpoint location");
                timeline = int.TryParse(values.GetValueOrDefault("Latest checkpoint's TimeLineID"), NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : null;
                hints = values.GetValueOrDefault("wal_log_hints setting") is { } h ? h == "on" : null;
                checksums = values.GetValueOrDefault("Data page checksum version") is { } c ? c != "0" : null;
            }
            else
            {
                problem = "pg_controldata failed: " + control.Tail(3);
            }
        }
        else
        {
            problem = Directory.Exists(DataDirectory) ? $"{DataDirectory} is not a data directory (no PG_VERSION)" : $"{DataDirectory} does not exist";
        }
        return new LocalFacts(options.Name, exists, pid, state, timeline, checkpoint, system, hints, checksums,
            File.Exists(Path.Combine(DataDirectory, "standby.signal")), pid is { } p && WalReceiverStreams(p), highestTerm, busy, problem);
    }

    /// <summary>The live postmaster of this data directory: the pid in postmaster.pid, if that process runs in this directory.</summary>
    public int? PostmasterPid()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault();
            if (!int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                return null;
            // The postmaster's working directory is its data directory; a stale file's pid may be anyone's.
            var cwd = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
            return cwd is not null && Path.TrimEndingDirectorySeparator(cwd) == DataDirectory && !IsZombie(pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsZombie(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var close = stat.LastIndexOf(')');
        return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'Z' or 'X';
    }

    /// <summary>
    /// Whether a child of the postmaster is a WAL receiver connected to its upstream: its process title says
    /// "streaming" (it has flushed WAL since it connected), or it holds an established TCP connection (an idle
    /// primary sends nothing to retitle it).
    /// </summary>
    private static bool WalReceiverStreams(int postmaster)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields.Length < 2 || fields[1] != postmaster.ToString(CultureInfo.InvariantCulture))
                    continue;
                var title = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (title.Contains("walreceiver", StringComparison.Ordinal)
                    && (title.Contains("streaming", StringComparison.Ordinal) || HasEstablishedTcp(pid)))
                    return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return false;
    }

    private static bool HasEstablishedTcp(int pid)
    {
        var sockets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                sockets.Add(target[8..^1]);
        }
        foreach (var table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; st 01 is ESTABLISHED.
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (columns.Length > 9 && columns[3] == "01" && sockets.Contains(columns[9]))
                    return true;
            }
        }
        return false;
    }

    public Task<ProgramResult> StartAsync(CancellationToken ct) =>
        ProgramRun.RunAsync(Bin("pg_ctl"), ["start", "-D", DataDirectory, "-l", options.ServerLogPath, "-w", "-t", "60", "-s"], TimeSpan.FromSeconds(70), ct);

    /// <summary><c>pg_ctl stop</c>: <c>fast</c> is a clean shutdown (a shutdown checkpoint), <c>immediate</c> a crash.</summary>
    public async Task<ProgramResult> StopAsync(string mode, CancellationToken ct)
    {
        if (PostmasterPid() is null)
            return new ProgramResult(0, "not running");
        return await ProgramRun.RunAsync(Bin("pg_ctl"), ["stop", "-D", DataDirectory, "-m", mode, "-w", "-t", "60", "-s"], TimeSpan.FromSeconds(70), ct).ConfigureAwait(false);
    }

    public Task<ProgramResult> RewindAsync(string sourceConnInfo, TimeSpan timeout, CancellationToken ct) =>
        ProgramRun.RunAsync(Bin("pg_rewind"), ["--target-pgdata", DataDirectory, "--source-server", sourceConnInfo, "--progress"], timeout, ct);

    public Task<ProgramResult> BaseBackupAsync(string sourceConnInfo, string slot, TimeSpan timeout, CancellationToken ct) =>
        ProgramRun.RunAsync(Bin("pg_basebackup"),
            ["--pgdata", NewDirectory, "--dbname", sourceConnInfo, "--wal-method", "stream", "--slot", slot, "--checkpoint", "fast", "--no-password", "--no-manifest"],
            timeout, ct);

    /// <summary>The server's own configuration files (every <c>*.conf</c> at the top of the data directory), as they are now; none when there is no data directory.</summary>
    public Dictionary<string, byte[]> ReadConfiguration(string directory)
    {
        var saved = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (!File.Exists(Path.Combine(directory, "PG_VERSION")))
            return saved;
        foreach (var file in Directory.EnumerateFiles(directory, "*.conf"))
            saved[Path.GetFileName(file)] = File.ReadAllBytes(file);
        return saved;
    }

    /// <summary>
    /// Keeps a copy of the configuration files beside the data directory, so that a server whose directory is lost or
    /// replaced gets its own settings back (pg_rewind and pg_basebackup copy the primary's).
    /// </summary>
    public void KeepConfigurationCopy()
    {
        var files = ReadConfiguration(DataDirectory);
        if (files.Count == 0)
            return;
        Directory.CreateDirectory(ConfigurationCopy);
        foreach (var (name, content) in files)
            File.WriteAllBytes(Path.Combine(ConfigurationCopy, name), content);
    }

    /// <summary>The configuration files to put back: those of the data directory now, else the kept copy.</summary>
    public Dictionary<string, byte[]> OwnConfiguration()
    {
        var files = ReadConfiguration(DataDirectory);
        if (files.Count > 0 || !Directory.Exists(ConfigurationCopy))
            return files;
        return Directory.EnumerateFiles(ConfigurationCopy, "*.conf").ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal);
    }

    /// <summary>
    /// The crash recovery pg_rewind runs on a target that was not shut down cleanly must keep every WAL segment it has
    /// (its end-of-recovery checkpoint could remove what pg_rewind then reads). Undone when the configuration is put back.
    /// </summary>
    public Task KeepWalThroughRecoveryAsync(CancellationToken ct) =>
        File.AppendAllTextAsync(Path.Combine(DataDirectory, AutoConf), "\nwal_keep_size = '1TB'\n", ct);

    /// <summary>
    /// Puts the server's own configuration files back, then points it at its upstream: in
    /// postgresql.auto.conf (as ALTER SYSTEM writes it) <c>primary_conninfo</c> and <c>primary_slot_name</c>, and
    /// standby.signal.
    /// </summary>
    public async Task WriteStandbyConfigurationAsync(IReadOnlyDictionary<string, byte[]> own, string primaryConnInfo, string slot, CancellationToken ct)
    {
        foreach (var (name, content) in own)
            await File.WriteAllBytesAsync(Path.Combine(DataDirectory, name), content, ct).ConfigureAwait(false);
        var path = Path.Combine(DataDirectory, AutoConf);
        var lines = File.Exists(path) ? await File.ReadAllLinesAsync(path, ct).ConfigureAwait(false) : [];
        var text = new StringBuilder();
        foreach (var line in lines.Where(l => l.Length > 0 && !Sets(l, "primary_conninfo") && !Sets(l, "primary_slot_name")))
            text.Append(line).Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"primary_conninfo = {Quote(primaryConnInfo)}\n")
            .Append(CultureInfo.InvariantCulture, $"primary_slot_name = {Quote(slot)}\n");
        await File.WriteAllTextAsync(path, text.ToString(), ct).ConfigureAwait(false);
        File.Delete(Path.Combine(DataDirectory, "recovery.signal"));
        await File.WriteAllTextAsync(Path.Combine(DataDirectory, "standby.signal"), "", ct).ConfigureAwait(false);
    }

    /// <summary>The log's length now, to read what a start writes after it.</summary>
    public long LogLength() => File.Exists(options.ServerLogPath) ? new FileInfo(options.ServerLogPath).Length : 0;

    /// <summary>The first line the log wrote since <paramref name="offset"/> that says the server can never stream as it is, or null.</summary>
    public string? HopelessSince(long offset)
    {
        try
        {
            using var stream = new FileStream(options.ServerLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Split('\n').FirstOrDefault(l => Hopeless.Any(h => l.Contains(h, StringComparison.Ordinal)));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Moves <paramref name="from"/> to <paramref name="to"/>, removing a leftover at <paramref name="to"/> first.</summary>
    public static void Replace(string from, string to)
    {
        if (Directory.Exists(to))
            Directory.Delete(to, recursive: true);
        Directory.Move(from, to);
    }

    private static string Quote(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    private static bool Sets(string line, string name)
    {
        var t = line.TrimStart();
        return t.StartsWith(name, StringComparison.Ordinal) && t.Length > name.Length && (t[name.Length] == '=' || char.IsWhiteSpace(t[name.Length]));
    }
}
