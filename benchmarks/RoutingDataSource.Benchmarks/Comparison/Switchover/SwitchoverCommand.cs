using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Benchmarks.Comparison.Failover;
using RoutingDataSource.Benchmarks.Comparison.Results;
using RoutingDataSource.Benchmarks.Comparison.Systems;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Switchover;

/// <summary>
/// <c>switchover [--trials N] [--out DIR]</c> (<c>./build.sh bench switchover</c>): N planned switchovers, back and
/// forth between n0 and n1, on one 1+2 cluster with synchronous replication (<c>ANY 1 (n1, n2)</c>), a node agent
/// beside every server and one coordinator with default settings, under the failover part's write load (its
/// <see cref="WriteLoad"/>: inserts of new ids through <see cref="PgRoutingDataSource"/> with default options). Each
/// switchover is asked for through the coordinator's HTTP API (<c>POST /switchover</c>, what
/// <c>routing-coordinator switchover --to</c> sends). Writes <c>benchmarks/results/&lt;date&gt;-&lt;host&gt;-switchover.md</c>
/// (+ .json); the coordinator's log (every step, timestamped) goes to <c>artifacts/bench/switchover/coordinator.log</c>, the
/// servers' and agents' logs beside it.
/// Exit code 1 when an acknowledged write was lost or a switchover failed.
/// </summary>
internal static class SwitchoverCommand
{
    private const string AgentToken = "bench-switchover-agent-token-0123456789";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);

    private sealed record Settings(int Trials, string RepositoryRoot, string OutputDirectory, string Command);

    /// <summary>One acknowledged insert: its id, when it started and ended (<see cref="Stopwatch"/> timestamps), and the port of the server that made it.</summary>
    private readonly record struct Ack(long Id, long Start, long End, int Port);

    public static Task<int> RunAsync(string[] args) => ConsoleCommand.RunAsync(() => Parse(args), RunAsync);

    private static Settings Parse(string[] args)
    {
        var root = CompareSettings.FindRepositoryRoot();
        var trials = 10;
        var output = Path.Combine(root, "benchmarks", "results");
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--trials":
                    trials = int.Parse(value, CultureInfo.InvariantCulture);
                    if (trials < 1)
                        throw new ArgumentException("--trials must be at least 1");
                    break;
                case "--out":
                    output = Path.GetFullPath(value);
                    break;
                default:
                    throw new ArgumentException($"unknown argument {args[i]} (switchover [--trials N] [--out DIR])");
            }

            i++;
        }

        var command = Environment.GetEnvironmentVariable("BENCH_COMMAND") is { Length: > 0 } c
            ? c
            : "dotnet run --project benchmarks/RoutingDataSource.Benchmarks -c Release -- switchover " + string.Join(' ', args);
        return new Settings(trials, root, output, command);
    }

    private static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.Now;
        var loadAtStart = MachineInfo.LoadAverage();
        var artifacts = Path.Combine(settings.RepositoryRoot, "artifacts", "bench", "switchover");
        using var logs = new TimestampedFileLogger(Path.Combine(artifacts, "coordinator.log"));
        await using var cluster = await FailoverComparison.StartClusterAsync(cancellationToken, synchronous: true);
        await BenchCluster.Sql(cluster.Primary, "CREATE TABLE switchover_writes (id bigint PRIMARY KEY)", cancellationToken);
        await cluster.WaitForReplicationAsync(TimeSpan.FromSeconds(60), cancellationToken);
        // The built coordinator program is copied next to the benchmarks (a project reference).
        var program = Path.Combine(AppContext.BaseDirectory, "RoutingDataSource.Coordinator.dll");
        var agents = new Dictionary<string, LocalNodeAgent>(StringComparer.Ordinal);
        foreach (var node in cluster.Nodes)
            agents[node.Name] = await LocalNodeAgent.StartAsync(node, program, AgentToken, BenchCoordinators.ReplicationConnInfo, cancellationToken: cancellationToken);
        await using var coordinators = await BenchCoordinators.StartAsync(cluster, 1, null, agents, cancellationToken, AgentToken, logs);
        var coordinator = coordinators.Leader!;
        await using var system = new RoutingSystem(cluster, n => BenchCluster.ConnectionString(n, "bench-switchover"));
        await system.OpenAsync(cancellationToken);
        using var http = new HttpClient { BaseAddress = coordinator.Address, Timeout = Bound };

        var acks = new ConcurrentQueue<Ack>();
        var load = new WriteLoad(
            async (writer, sequence, ct) =>
            {
                await using var conn = await system.DataSource.OpenConnectionAsync(ct);
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = "INSERT INTO switchover_writes (id) VALUES ($1) RETURNING inet_server_port()";
                cmd.Parameters.Add(new NpgsqlParameter { Value = (sequence * WriteLoad.Writers) + writer + 1 });
                return (int)(await cmd.ExecuteScalarAsync(ct))!;
            },
            (writer, sequence, start, end, port) => acks.Enqueue(new Ack((sequence * WriteLoad.Writers) + writer + 1, start, end, port)),
            cancellationToken);
        var records = new List<SwitchoverTrialRecord>();
        try
        {
            var from = cluster.Nodes[0];
            for (var trial = 1; trial <= settings.Trials; trial++)
            {
                var to = from == cluster.Nodes[0] ? cluster.Nodes[1] : cluster.Nodes[0];
                SwitchoverTrialRecord record;
                try
                {
                    record = await TrialAsync(trial, cluster, from, to, agents, coordinator, http, acks, load, logs, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A trial that breaks is a result too (reported, never dropped).
                    record = new SwitchoverTrialRecord(trial, from.Name, to.Name, false, null, null, null, 0, 0, 0, null, null, null,
                        $"trial failed: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                }

                records.Add(record);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"switchover {trial,2} {record.From} -> {record.To}: {(record.Succeeded ? "ok" : "FAILED")}, request {ReportBuilder.Ms(record.RequestMs)}, longest write gap {ReportBuilder.Ms(record.LongestGapMs)}, first write on {record.To} after {ReportBuilder.Ms(record.FirstNewWriteMs)}, lost {record.Lost} of {record.Acknowledged}, {record.FailedWrites} failed writes, {record.From} streams from {record.To} after {ReportBuilder.Ms(record.StreamsAfterMs)} ({(record.Rewound is true ? "REWOUND" : record.Rewound is false ? "no rewind" : "?")}){(record.Note is null ? "" : "; " + record.Note)}"));
                if (record.Succeeded)
                    from = to;
            }
        }
        finally
        {
            await load.StopAsync();
            // The servers' and agents' logs beside the coordinator's, for reading where a switchover's time went.
            foreach (var node in cluster.Nodes)
            {
                File.Copy(node.LogPath, Path.Combine(artifacts, node.Name + ".log"), overwrite: true);
                await File.WriteAllTextAsync(Path.Combine(artifacts, node.Name + ".agent.log"), agents[node.Name].Output, CancellationToken.None);
            }
        }

        var machine = await MachineInfo.DescribeAsync(settings.RepositoryRoot, cluster.ServerVersion, [], kernelInOperatingSystem: true, cancellationToken);
        var report = SwitchoverReport.Build(settings.Command, started, DateTimeOffset.Now, machine, [loadAtStart.One, loadAtStart.Five, loadAtStart.Fifteen], records);
        var markdown = SwitchoverReport.Write(report, settings.OutputDirectory);
        Console.WriteLine();
        foreach (var line in report.Summary)
            Console.WriteLine(line);
        Console.WriteLine($"results: {Path.GetRelativePath(settings.RepositoryRoot, markdown)} (+ .json); coordinator log: {Path.GetRelativePath(settings.RepositoryRoot, Path.Combine(artifacts, "coordinator.log"))}");
        return records.All(r => r.Succeeded && r.Lost == 0) ? 0 : 1;
    }

    private static async Task<SwitchoverTrialRecord> TrialAsync(int trial, LocalPgCluster cluster, LocalPgNode from, LocalPgNode to,
        IReadOnlyDictionary<string, LocalNodeAgent> agents, Coordinator.CoordinatorHost coordinator, HttpClient http,
        ConcurrentQueue<Ack> acks, WriteLoad load, TimestampedFileLogger logs, CancellationToken cancellationToken)
    {
        // Ready: the coordinator names the old primary, the candidate streams from it as a synchronous standby, and the
        // writes have flowed for a random 1–1.5 s since.
        await UntilAsync(async () => coordinator.PrimaryName == from.Name && await SyncStateAsync(from, to.Name, cancellationToken) is "sync" or "quorum",
            $"{to.Name} streams synchronously from {from.Name} and the coordinator names {from.Name}", cancellationToken);
        await Task.Delay(TimeSpan.FromMilliseconds(1000 + Random.Shared.Next(500)), cancellationToken);
        var rewindsBefore = Count(agents[from.Name].Output, "pg_rewind");
        var errorsBefore = load.Errors;

        logs.Mark($"trial {trial}: switchover {from.Name} -> {to.Name} requested");
        var requestAt = Stopwatch.GetTimestamp();
        using var response = await http.PostAsJsonAsync("switchover", new { candidate = to.Name }, cancellationToken);
        var answeredAt = Stopwatch.GetTimestamp();
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        logs.Mark($"trial {trial}: answered {(int)response.StatusCode}: {body}");
        if (!response.IsSuccessStatusCode)
        {
            return new SwitchoverTrialRecord(trial, from.Name, to.Name, false, Stopwatch.GetElapsedTime(requestAt, answeredAt).TotalMilliseconds, null, null, 0, 0, load.Errors - errorsBefore, null, null, null,
                $"HTTP {(int)response.StatusCode}: {body.ReplaceLineEndings(" ")}");
        }

        // The first write the new primary acknowledged, then a second more of load after it.
        Ack? FirstNew() => acks.Where(a => a.Port == to.Port && a.Start >= requestAt).OrderBy(a => a.End).Cast<Ack?>().FirstOrDefault();
        await UntilAsync(() => Task.FromResult(FirstNew() is not null), $"a write acknowledged by {to.Name}", cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        // Again, now that every writer has reported what it had in flight then (the polls only say when to go on).
        var firstNew = FirstNew();

        // The old primary follows the new one: streaming, seen from the new primary.
        double? streamsAfter = null;
        await UntilAsync(async () =>
        {
            if (await SyncStateAsync(to, from.Name, cancellationToken) is null)
                return false;
            streamsAfter = Stopwatch.GetElapsedTime(requestAt).TotalMilliseconds;
            return true;
        }, $"{from.Name} streams from {to.Name}", cancellationToken);
        var rewound = Count(agents[from.Name].Output, "pg_rewind") > rewindsBefore;
        var agentReport = coordinator.PrimaryName == to.Name ? await AgentReportAsync(http, from.Name, cancellationToken) : null;

        // Write unavailability: the longest gap between two acknowledged writes in a row, from the last one acknowledged
        // before the request to the first the new primary acknowledged.
        var ends = acks.Select(a => a.End).Order().ToArray();
        var lastBefore = ends.LastOrDefault(e => e < requestAt);
        var window = ends.Where(e => e >= lastBefore && e <= firstNew!.Value.End).ToArray();
        var gap = window.Zip(window.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds).DefaultIfEmpty(0).Max();

        // Every acknowledged write so far is on the new primary.
        var ids = acks.Select(a => a.Id).ToArray();
        long present;
        await using (var conn = new NpgsqlConnection(BenchCluster.ConnectionString(to, "bench-switchover-check")))
        {
            await conn.OpenAsync(cancellationToken);
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM switchover_writes WHERE id = ANY($1)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = ids });
            present = (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        }

        logs.Mark($"trial {trial}: done");
        return new SwitchoverTrialRecord(trial, from.Name, to.Name, true,
            Stopwatch.GetElapsedTime(requestAt, answeredAt).TotalMilliseconds,
            gap,
            Stopwatch.GetElapsedTime(requestAt, firstNew!.Value.End).TotalMilliseconds,
            ids.Length, ids.Length - present, load.Errors - errorsBefore,
            streamsAfter, rewound, agentReport, null);
    }

    /// <summary><paramref name="standby"/>'s <c>sync_state</c> on <paramref name="primary"/> while it streams from it; null when it does not.</summary>
    private static async Task<string?> SyncStateAsync(LocalPgNode primary, string standby, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = new NpgsqlConnection(BenchCluster.ConnectionString(primary, "bench-switchover-check"));
            await conn.OpenAsync(cancellationToken);
            await using var cmd = new NpgsqlCommand("SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming' AND NOT pg_is_in_recovery()", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = standby });
            return await cmd.ExecuteScalarAsync(cancellationToken) as string;
        }
        catch (NpgsqlException)
        {
            return null; // down or restarting
        }
    }

    /// <summary>What the coordinator says <paramref name="member"/>'s agent last did (GET /cluster).</summary>
    private static async Task<string?> AgentReportAsync(HttpClient http, string member, CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync("cluster", cancellationToken));
        foreach (var m in document.RootElement.GetProperty("members").EnumerateArray())
        {
            if (m.GetProperty("name").GetString() == member)
                return m.TryGetProperty("agent", out var agent) ? agent.GetString() : null;
        }

        return null;
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > Bound)
                throw new TimeoutException($"not within {Bound.TotalSeconds:0} s: {what}");
            // Often enough for the figures' resolution, rarely enough not to load the machine being measured.
            await Task.Delay(Poll, cancellationToken);
        }
    }

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
            n++;
        return n;
    }
}

/// <summary>One switchover as reported (times in milliseconds from the request; null when not reached).</summary>
internal sealed record SwitchoverTrialRecord(
    int Trial,
    string From,
    string To,
    bool Succeeded,
    double? RequestMs,
    double? LongestGapMs,
    double? FirstNewWriteMs,
    long Acknowledged,
    long Lost,
    long FailedWrites,
    double? StreamsAfterMs,
    bool? Rewound,
    string? AgentReport,
    string? Note);
