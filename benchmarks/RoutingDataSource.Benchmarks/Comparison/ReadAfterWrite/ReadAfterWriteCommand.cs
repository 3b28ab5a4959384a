using System.Diagnostics;
using System.Globalization;
using System.Text;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.ReadAfterWrite;

/// <summary>
/// <c>ryw [--iterations N] [--gaps 0,1,5,100] [--out DIR]</c> (<c>./build.sh bench ryw</c>): a read right after a write
/// on the same connection, with the default <c>ReadYourWrites = Connection</c> and a 1 s health-check interval, on a
/// local 1+2 cluster. For each gap between the write's acknowledgement and the read: the share of reads standbys
/// served, the guarded attempts that passed and missed, and the reads that did not see their write (must be 0).
/// Writes <c>benchmarks/results/&lt;date&gt;-ryw.md</c>.
/// </summary>
internal static class ReadAfterWriteCommand
{
    private sealed record Settings(int Iterations, IReadOnlyList<int> GapsMs, string OutputDirectory, TimeSpan? Wait);

    private sealed record Cell(int GapMs, int Reads, long OnStandbys, long GuardHits, long GuardMisses, int Stale, double MeanReadMs);

    public static Task<int> RunAsync(string[] args) => ConsoleCommand.RunAsync(() => Parse(args), RunAsync);

    private static Settings Parse(string[] args)
    {
        var iterations = 500;
        IReadOnlyList<int> gaps = [0, 1, 5, 100];
        var root = Directory.GetCurrentDirectory();
        var output = Path.Combine(root, "benchmarks", "results");
        TimeSpan? wait = null; // the library's default unless given
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--iterations":
                    iterations = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--gaps":
                    gaps = value.Split(',').Select(g => int.Parse(g, CultureInfo.InvariantCulture)).ToArray();
                    break;
                case "--out":
                    output = value;
                    break;
                case "--wait":
                    wait = TimeSpan.FromMilliseconds(double.Parse(value, CultureInfo.InvariantCulture));
                    break;
                default:
                    throw new ArgumentException($"unknown argument {args[i]} (ryw [--iterations N] [--gaps 0,1,5,100] [--wait MS] [--out DIR])");
            }
            i++;
        }
        return new Settings(iterations, gaps, output, wait);
    }

    private static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, NamePrefix = "ryw-" }, cancellationToken);
        await cluster.Primary.ExecuteAsync("CREATE TABLE ryw_bench (id bigint PRIMARY KEY)", cancellationToken);
        await cluster.WaitForReplicationAsync(cancellationToken: cancellationToken);
        var cells = new List<Cell>();
        long next = 0;
        foreach (var gap in settings.GapsMs)
        {
            var builder = new PgRoutingDataSourceBuilder();
            if (settings.Wait is { } wait)
                builder.Options.ReadYourWritesWait = wait;
            foreach (var n in cluster.Nodes)
                builder.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, cluster.Primary) ? 0 : 1);
            await using var ds = builder.Build();
            await ds.RefreshStatusAsync(cancellationToken);
            await using var conn = await ds.OpenConnectionAsync(cancellationToken);
            await using var write = conn.CreateCommand();
            write.CommandText = "INSERT INTO ryw_bench VALUES (@id)";
            var w = write.Parameters.AddWithValue("id", 0L);
            await using var read = conn.CreateCommand();
            read.CommandText = "SELECT count(*) FROM ryw_bench WHERE id = @id";
            var r = read.Parameters.AddWithValue("id", 0L);
            var stale = 0;
            long readTicks = 0;
            var before = ds.GetStatus();
            for (var i = 0; i < settings.Iterations; i++)
            {
                w.Value = r.Value = ++next;
                await write.ExecuteNonQueryAsync(cancellationToken);
                if (gap > 0)
                    await Task.Delay(gap, cancellationToken);
                var started = Stopwatch.GetTimestamp();
                if ((long)(await read.ExecuteScalarAsync(cancellationToken))! != 1)
                    stale++;
                readTicks += Stopwatch.GetTimestamp() - started;
            }
            var after = ds.GetStatus();
            long Sum(ClusterStatus s, Func<BackendStatus, long> f) => s.Backends.Where(b => b.Role == BackendRole.Standby).Sum(f);
            var cell = new Cell(gap, settings.Iterations, Sum(after, b => b.ReadCount) - Sum(before, b => b.ReadCount),
                Sum(after, b => b.GuardHits) - Sum(before, b => b.GuardHits), Sum(after, b => b.GuardMisses) - Sum(before, b => b.GuardMisses),
                stale, readTicks * 1000.0 / Stopwatch.Frequency / settings.Iterations);
            cells.Add(cell);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"gap {gap} ms: {cell.OnStandbys}/{cell.Reads} reads on standbys, guards passed {cell.GuardHits} missed {cell.GuardMisses}, stale {cell.Stale}, read {cell.MeanReadMs:0.000} ms"));
        }
        var text = Report(settings, cluster.ServerVersion, cells);
        Directory.CreateDirectory(settings.OutputDirectory);
        var name = ResultsFiles.FreeBaseName(settings.OutputDirectory, DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "-ryw");
        var path = Path.Combine(settings.OutputDirectory, name + ".md");
        await File.WriteAllTextAsync(path, text, cancellationToken);
        Console.WriteLine($"results: {path}");
        return cells.Any(c => c.Stale > 0) ? 1 : 0;
    }

    private static string Report(Settings settings, string serverVersion, IReadOnlyList<Cell> cells)
    {
        var load = MachineInfo.LoadAverage();
        var sb = new StringBuilder();
        sb.AppendLine("# A read right after a write (read-your-writes by WAL position)");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"`./build.sh bench ryw --iterations {settings.Iterations} --gaps {string.Join(',', settings.GapsMs)}{(settings.Wait is { } w ? $" --wait {w.TotalMilliseconds}" : "")}`, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {serverVersion}, load average at the end {load.One:0.00} / {load.Five:0.00} / {load.Fifteen:0.00}.");
        sb.AppendLine();
        sb.AppendLine("One connection, default options (`ReadYourWrites = Connection`, `HealthCheckInterval` 1 s, `ReadYourWritesWait` as given), primary weight 0: each iteration inserts a row, waits the gap, and reads the row back.");
        sb.AppendLine();
        sb.AppendLine("| gap after the write | reads | served by standbys | guards passed | guards missed | stale reads | mean read |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var c in cells)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.GapMs} ms | {c.Reads} | {100.0 * c.OnStandbys / c.Reads:0.0}% | {c.GuardHits} | {c.GuardMisses} | {c.Stale} | {c.MeanReadMs:0.000} ms |");
        }
        return sb.ToString();
    }
}
