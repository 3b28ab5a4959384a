using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Pgpool;
using RoutingDataSource.Routing;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Corpus;

/// <summary>
/// The corpus part (<c>./build.sh bench corpus</c>): PostgreSQL's regression suite, as the shared corpus holds it,
/// replayed end to end on a statement-logging 1+2 cluster (corpus README: the setup script into a template database, a
/// database per file made from it, the file's statements in order on one connection), three times on a fresh cluster
/// each: straight to the primary (the baseline: what the suite does here, without routing), through the routing data
/// source with its defaults, and through Pgpool-II. The servers' logs say where each statement ran.
/// </summary>
internal static class CorpusComparison
{
    private const string Template = "corpus_template";

    public static async Task<CorpusReport> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var path = FindCorpus(settings.RepositoryRoot);
        var (setup, files) = CorpusStatement.Load(path);
        // For a quick look at the harness itself, not for results: the first N files only.
        if (int.TryParse(Environment.GetEnvironmentVariable("CORPUS_FILES"), CultureInfo.InvariantCulture, out var first) && first > 0)
            files = files.Take(first).ToList();
        progress.WriteLine($"corpus: {files.Sum(f => f.Count())} statements in {files.Count} files (+ {setup.Count} of setup) from {path}");
        // The systems side by side, each on its own cluster: each replays one statement at a time, so together they use
        // the machine better than one after the other, and nothing of one run (roles are global) reaches another.
        var clock = Stopwatch.StartNew();
        // CORPUS_SYSTEMS=RoutingDataSource,... replays only those (the baseline always): a rerun after a change to the library.
        var only = Environment.GetEnvironmentVariable("CORPUS_SYSTEMS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var systems = Enum.GetValues<CorpusSystem>().Where(x => x == CorpusSystem.Primary || only is null || only.Contains(x.ToString(), StringComparer.OrdinalIgnoreCase)).ToArray();
        var runs = await Task.WhenAll(systems
            .Select(async system =>
            {
                var run = await RunSystemAsync(system, setup, files, settings, progress, cancellationToken);
                progress.WriteLine($"corpus: {system} done at {clock.Elapsed.TotalMinutes:0.0} min");
                return run;
            }));
        return CorpusReport.Build(settings, path, files, runs);
    }

    private static string FindCorpus(string root)
    {
        foreach (var candidate in new[] { Environment.GetEnvironmentVariable("CORPUS_PATH"), Path.Combine(root, "..", "shared", "corpus", "pg-regress-verdicts.jsonl"), "/work/shared/corpus/pg-regress-verdicts.jsonl" })
        {
            if (candidate is { Length: > 0 } && File.Exists(candidate))
                return Path.GetFullPath(candidate);
        }
        throw new FileNotFoundException("The corpus pg-regress-verdicts.jsonl was not found (set CORPUS_PATH).");
    }

    private static async Task<SystemRun> RunSystemAsync(CorpusSystem system, IReadOnlyList<CorpusStatement> setup, IReadOnlyList<IGrouping<string, CorpusStatement>> files,
        CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var options = new LocalPgClusterOptions
        {
            Standbys = 2,
            NamePrefix = "co" + ((int)system).ToString(CultureInfo.InvariantCulture) + "-",
            StartTimeout = TimeSpan.FromSeconds(120),
            OperationTimeout = TimeSpan.FromSeconds(60),
        };
        // Counts, not timings: nothing here needs the data to survive a crash. synchronous_commit stays on (the
        // default): off, a commit waits in the walwriter up to wal_writer_delay (200 ms) before a standby can receive
        // it, and reads right after writes would measure that instead of replication.
        foreach (var line in ServerLogs.Settings.Concat(["fsync = off", "full_page_writes = off", "max_connections = 200"]))
            options.ExtraSettings.Add(line);
        await using var cluster = await LocalPgCluster.StartAsync(options, cancellationToken);
        var primary = cluster.Primary;
        await primary.ExecuteAsync($"CREATE DATABASE {Template}", cancellationToken);
        var setupErrors = 0;
        await using (var conn = new NpgsqlConnection(primary.ConnectionStringWith(b => { b.Database = Template; b.Pooling = false; b.ApplicationName = "corpus-setup"; })))
        {
            await conn.OpenAsync(cancellationToken);
            foreach (var s in setup.Where(s => !s.Sql.Contains(":'", StringComparison.Ordinal)))
            {
                if ((await ExecuteAsync(conn, s.Sql, cancellationToken)).StartsWith("error", StringComparison.Ordinal))
                    setupErrors++;
            }
        }
        await cluster.WaitForReplicationAsync(TimeSpan.FromMinutes(2), cancellationToken);
        await using var pgpool = system == CorpusSystem.Pgpool
            ? await PgpoolInstance.StartAsync(cluster, PgTools.Beside(primary), Path.Combine(settings.ArtifactsDirectory, "pgpool-corpus"), cancellationToken)
            : null;

        var outcomes = new Dictionary<CorpusStatement, string>();
        var placements = new Dictionary<CorpusStatement, string>(); // routing data source: where its counters say each read-only statement ran, and why
        var done = 0;
        foreach (var file in files)
        {
            var db = "c_" + new string(file.Key.Select(ch => char.IsAsciiLetterOrDigit(ch) ? char.ToLowerInvariant(ch) : '_').ToArray());
            var app = "c:" + file.Key;
            await primary.ExecuteAsync($"CREATE DATABASE {db} TEMPLATE {Template}", cancellationToken);
            await cluster.WaitForReplicationAsync(TimeSpan.FromMinutes(1), cancellationToken);
            switch (system)
            {
                case CorpusSystem.Primary:
                    await RunPlainAsync(primary.ConnectionStringWith(b => { b.Database = db; b.ApplicationName = app; b.Pooling = false; }), file, outcomes, cancellationToken);
                    break;
                case CorpusSystem.Pgpool:
                    await RunPlainAsync(pgpool!.ConnectionString(db, b => { b.ApplicationName = app; b.Pooling = false; }), file, outcomes, cancellationToken);
                    break;
                default:
                    await RunRoutedAsync(cluster, db, app, file, outcomes, placements,
                        system == CorpusSystem.RoutingDataSource ? ReadYourWritesScope.Connection : ReadYourWritesScope.None, cancellationToken);
                    break;
            }
            try
            {
                // Not WITH (FORCE): terminating pgpool's cached backend connections (57P01) makes pgpool take the
                // primary for shut down and fail it over.
                await primary.ExecuteAsync($"DROP DATABASE IF EXISTS {db}", cancellationToken);
            }
            catch (PostgresException)
            {
                // Still in use (pgpool's connection cache): left behind, the cluster goes away at the end anyway.
            }
            if (++done % 20 == 0)
                progress.WriteLine($"corpus: {system}: {done}/{files.Count} files");
        }

        var logs = cluster.Nodes.ToDictionary(n => n.Name, n => ServerLogs.Read(n.LogPath));
        return new SystemRun(system, primary.Name, cluster.Standbys.Select(s => s.Name).ToArray(), outcomes, placements, logs, setupErrors);
    }

    private static async Task RunPlainAsync(string connectionString, IEnumerable<CorpusStatement> file, Dictionary<CorpusStatement, string> outcomes, CancellationToken cancellationToken)
    {
        NpgsqlConnection? conn = null;
        var gaveUp = false;
        try
        {
            foreach (var s in file.Where(s => s.Runs))
            {
                if (!gaveUp && conn is not { State: System.Data.ConnectionState.Open })
                {
                    if (conn is not null)
                        await conn.DisposeAsync();
                    conn = await OpenAsync(connectionString, cancellationToken);
                    gaveUp = conn is null; // the rest of the file fails without waiting for each statement
                }
                outcomes[s] = conn is null || gaveUp ? "error:client-no-connection" : await ExecuteAsync(conn, s.Sql, cancellationToken);
            }
        }
        finally
        {
            if (conn is not null)
                await conn.DisposeAsync();
        }
    }

    // A statement may end the session (pg_terminate_backend of itself, a pgpool child that gave up): a new one goes on.
    private static async Task<NpgsqlConnection?> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var conn = new NpgsqlConnection(connectionString);
            try
            {
                await conn.OpenAsync(cancellationToken);
                return conn;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                await conn.DisposeAsync();
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        return null;
    }

    private static async Task RunRoutedAsync(LocalPgCluster cluster, string db, string app, IEnumerable<CorpusStatement> file,
        Dictionary<CorpusStatement, string> outcomes, Dictionary<CorpusStatement, string> placements, ReadYourWritesScope readYourWrites,
        CancellationToken cancellationToken)
    {
        var b = new PgRoutingDataSourceBuilder();
        b.Options.ReadYourWrites = readYourWrites;
        foreach (var n in cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionStringWith(x => { x.Database = db; x.ApplicationName = app; }), ReferenceEquals(n, cluster.Primary) ? 0 : 1);
        await using var ds = b.Build();
        using (var warm = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            warm.CancelAfter(TimeSpan.FromSeconds(30));
            await ds.RefreshStatusAsync(warm.Token);
            await ds.Volatility.WaitForPreloadAsync(TimeSpan.FromSeconds(10), warm.Token);
            await ds.Unlogged.Loaded.WaitAsync(warm.Token);
        }
        await using var conn = await ds.OpenConnectionAsync(cancellationToken);
        var primaryName = cluster.Primary.Name;
        string? pinnedBy = null;
        foreach (var s in file.Where(s => s.Runs))
        {
            string? why = null;
            long before = 0, standbyBefore = 0, missesBefore = 0;
            if (s.ReadOnly)
            {
                var c = ds.Classifier.Classify(s.Sql);
                var (_, route) = conn.Refine(c, ds.Router.Route(c), statements: 1);
                why = conn.PinnedConnection is not null ? $"pinned to the primary session ({pinnedBy ?? "a transaction"})"
                    : conn.Session.InTransaction ? "inside a transaction"
                    : !route.StandbyAllowed ? route.Reason
                    : ReadYourWritesWhy(ds, conn);
                (before, standbyBefore) = Counts(ds, primaryName);
                missesBefore = Misses(ds);
            }
            var wasPinned = conn.PinnedConnection is not null;
            outcomes[s] = await ExecuteAsync(conn, s.Sql, cancellationToken);
            if (!wasPinned && conn.PinnedConnection is not null && !conn.Session.InTransaction)
                pinnedBy = ds.Classifier.Classify(s.Sql).Reason;
            else if (conn.PinnedConnection is null)
                pinnedBy = null;
            if (why is not null)
            {
                var (after, standbyAfter) = Counts(ds, primaryName);
                if (after > before && why.StartsWith("read-your-writes", StringComparison.Ordinal) && Misses(ds) > missesBefore)
                    why += ", guard missed";
                placements[s] = after > before ? why : standbyAfter > standbyBefore ? "standby" : "nowhere (failed before it ran)";
            }
        }
    }

    // Why a read that must see the session's writes is not known to be servable by a standby, as the data source sees
    // it just before: the write's position did not come back (unresolved until the next probe sample), or it did and no
    // standby is known to have replayed it (the write's age then tells whether replay could have had the time).
    private static string ReadYourWritesWhy(PgRoutingDataSource ds, RoutingConnection conn)
    {
        var s = ds.Monitor.Current;
        var required = ds.Selector.RequiredLsn(s, conn.Session);
        if (required == ReadRequirement.Unresolved)
            return "read-your-writes: the last write's position is not known yet";
        var age = conn.Session.LastWrite == 0 ? TimeSpan.Zero : ds.Time.GetElapsedTime(conn.Session.LastWrite);
        var bucket = age < TimeSpan.FromMilliseconds(1) ? "< 1 ms" : age < TimeSpan.FromMilliseconds(10) ? "1-10 ms" : age < TimeSpan.FromMilliseconds(100) ? "10-100 ms" : ">= 100 ms";
        return $"read-your-writes: no standby known to have replayed the session's last write (written {bucket} before)";
    }

    private static long Misses(PgRoutingDataSource ds) => ds.Monitor.Current.Nodes.Sum(n => n.Backend.Replay.Misses);

    private static (long Primary, long Standbys) Counts(PgRoutingDataSource ds, string primary)
    {
        long p = 0, st = 0;
        foreach (var status in ds.GetStatus().Backends)
        {
            if (status.Name == primary)
                p += status.ReadCount + status.WriteCount;
            else
                st += status.ReadCount + status.WriteCount;
        }
        return (p, st);
    }

    /// <summary>Runs one statement; "ok" or "error:SQLSTATE" (a routing failure as "error:routing-Failure").</summary>
    private static async Task<string> ExecuteAsync(DbConnection conn, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.CommandTimeout = 60;
        try
        {
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            return "ok";
        }
        catch (PostgresException e)
        {
            return "error:" + e.SqlState;
        }
        catch (RoutingException e)
        {
            return "error:routing-" + e.Failure.ToString() + (e.InnerException is PostgresException pe ? "-" + pe.SqlState : "");
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException or TimeoutException or NotSupportedException or ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            return "error:client-" + e.GetType().Name;
        }
    }
}

internal enum CorpusSystem
{
    Primary,
    RoutingDataSource,
    RoutingDataSourceNoReadYourWrites,
    Pgpool,
}

/// <summary>One system's replay: each statement's outcome, and the servers' logs.</summary>
internal sealed record SystemRun(
    CorpusSystem System,
    string PrimaryName,
    string[] StandbyNames,
    Dictionary<CorpusStatement, string> Outcomes,
    Dictionary<CorpusStatement, string> Placements,
    Dictionary<string, Dictionary<string, List<string>>> Logs,
    int SetupErrors);
