using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Internal;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Results;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Ef;

/// <summary>
/// The EF Core cell (issue 23), <c>./build.sh bench ef [--rounds N] [--duration S] [--out DIR]</c>: an EF query
/// (<c>FirstOrDefaultAsync</c> by key) and an EF <c>SaveChanges</c> of one new entity, each through a context on
/// <c>UseRoutingDataSource</c> against the same context on plain <c>UseNpgsql</c>, paired in one run. Overhead: on one
/// server (the routing data source's only backend is the plain one's server), many short alternating pairs as in the
/// overhead part, the ratio the median of the pairs' ratios with its 95% interval. Placement: on a 1+2 cluster, the
/// routed query's share of reads served by the standbys, from <c>GetStatus()</c>. Contexts come from a
/// <c>PooledDbContextFactory</c> for both systems, one context per operation. <c>--thread</c> instead runs the
/// synchronous query (or with <c>--op save</c> the synchronous SaveChanges) of both on one dedicated thread and reports
/// that thread's CPU per operation (<see cref="OneThreadComparison"/>), for before/after on one change.
/// </summary>
internal static class EfCommand
{
    public static readonly IReadOnlyList<int> Callers = [1, 8];
    private const int Rows = 1000;

    internal sealed record Settings(int Rounds, TimeSpan Duration, string OutputDirectory, string RepositoryRoot, string Command, string? Only = null, double Seconds = 10, bool Thread = false, string Op = "query", string Candidate = "routing");

    internal sealed record Measurement(string Operation, string System, int Callers, int Round, double OpsPerSecond, double AllocatedBytesPerOp, double ProcessCpuMicrosecondsPerOp, long Errors);

    public static Task<int> RunAsync(string[] args) => ConsoleCommand.RunAsync(() => Parse(args), RunAsync);

    private static Settings Parse(string[] args)
    {
        var root = CompareSettings.Parse([]).RepositoryRoot;
        var s = new Settings(40, TimeSpan.FromSeconds(0.2), Path.Combine(root, "benchmarks", "results"), root,
            Environment.GetEnvironmentVariable("BENCH_COMMAND") ?? "dotnet run --project benchmarks/RoutingDataSource.Benchmarks -c Release -- ef " + string.Join(' ', args));
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            s = a switch
            {
                "--rounds" => s with { Rounds = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--duration" => s with { Duration = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                "--out" => s with { OutputDirectory = Path.GetFullPath(Value()) },
                "--only" => s with { Only = Value() },
                "--seconds" => s with { Seconds = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--thread" => s with { Thread = true },
                "--against" => s with { Candidate = Value() is "routing" or "routing-noretry" or "routing-norw" ? args[i] : throw new ArgumentException("--against takes routing, routing-noretry or routing-norw.") },
                "--op" => s with { Op = Value() switch { "query" => "query", "save" => "save", _ => throw new ArgumentException("--op takes query or save.") } },
                _ => throw new ArgumentException($"Unknown argument '{a}'. Usage: ef [--rounds N] [--duration S] [--out DIR] [--only npgsql|routing|routing-noretry|routing-norw --seconds S] [--thread [--against routing|routing-noretry|routing-norw]] [--op query|save]"),
            };
        }
        if (s.Rounds < 1 || s.Duration <= TimeSpan.Zero)
            throw new ArgumentException("Rounds must be at least 1 and the duration positive.");
        return s;
    }

    private static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var progress = Console.Out;
        var started = DateTimeOffset.Now;
        var load = MachineInfo.LoadAverage();
        var (measurements, version) = await OverheadAsync(settings, progress, cancellationToken);
        if (settings.Only is not null || settings.Thread)
            return 0;
        var placement = await PlacementAsync(settings, progress, cancellationToken);
        var machine = await BenchMachine.DescribeAsync(settings.RepositoryRoot, version, cancellationToken);

        var cells = measurements.Where(m => m.System != "npgsql").GroupBy(m => (m.Operation, m.Callers, m.System)).Select(g =>
        {
            var ratios = g.Select(m => measurements.First(b => b.System == "npgsql" && b.Operation == m.Operation && b.Callers == m.Callers && b.Round == m.Round))
                .Zip(g, (b, m) => b.OpsPerSecond > 0 ? m.OpsPerSecond / b.OpsPerSecond : double.NaN);
            var plain = measurements.Where(b => b.System == "npgsql" && b.Operation == g.Key.Operation && b.Callers == g.Key.Callers).ToList();
            return new
            {
                g.Key.Operation,
                g.Key.Callers,
                g.Key.System,
                NpgsqlOpsPerSecond = Stats.Median(plain.Select(m => m.OpsPerSecond)),
                RoutingOpsPerSecond = Stats.Median(g.Select(m => m.OpsPerSecond)),
                Ratio = Stats.MedianWithInterval(ratios),
                NpgsqlAllocatedBytesPerOp = Stats.Median(plain.Select(m => m.AllocatedBytesPerOp)),
                RoutingAllocatedBytesPerOp = Stats.Median(g.Select(m => m.AllocatedBytesPerOp)),
                NpgsqlCpuMicrosecondsPerOp = Stats.Median(plain.Select(m => m.ProcessCpuMicrosecondsPerOp)),
                RoutingCpuMicrosecondsPerOp = Stats.Median(g.Select(m => m.ProcessCpuMicrosecondsPerOp)),
                Errors = g.Sum(m => m.Errors) + plain.Sum(m => m.Errors),
            };
        }).OrderBy(c => c.Operation).ThenBy(c => c.Callers).ThenBy(c => c.System).ToList();

        var inv = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine(inv, $"# EF Core cell {started:yyyy-MM-dd HH:mm zzz}, {machine.HostName}");
        s.AppendLine();
        s.AppendLine(inv, $"`{settings.Command}`, commit {machine.GitCommit}, {machine.Cores} cores, load average at start {load.One:0.00}; PostgreSQL {version}, Npgsql {machine.Npgsql}.");
        s.AppendLine();
        s.AppendLine(inv, $"Overhead on one server: {settings.Rounds} alternating pairs of {settings.Duration.TotalSeconds:0.##} s windows per cell; ratio = routed ÷ plain `UseNpgsql`, median of the pairs with its 95% interval. "
            + $"`query` = `Items.FirstOrDefaultAsync(i => i.Id == key)` (random key of {Rows}), `save` = `Items.Add(new)` + `SaveChangesAsync()`, one pooled context per operation. "
            + $"`routing` = `UseRoutingDataSource` as shipped (RoutingExecutionStrategy: EF buffers query results only inside a unit of work the strategy runs, so not here; a SaveChanges outside a transaction reads its commit position in its round trip); "
            + $"`routing-noretry` = the same with EF's NonRetryingExecutionStrategy, the plain context's strategy, to show what the retrying strategy costs; `routing-norw` = `routing` on a data source with `ReadYourWrites = None`, whose writes read no commit position, to show what read-your-writes costs a write. Target (issue 23): `routing` query ratio ≥ 0.97.");
        s.AppendLine();
        s.AppendLine("| operation | callers | system | plain ops/s | routed ops/s | ratio (95% CI) | CPU µs/op plain → routed | B/op plain → routed | errors |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var c in cells)
        {
            s.AppendLine(inv, $"| {c.Operation} | {c.Callers} | {c.System} | {c.NpgsqlOpsPerSecond:0} | {c.RoutingOpsPerSecond:0} | {c.Ratio.Median:0.000} ({c.Ratio.Low:0.000}–{c.Ratio.High:0.000}) | "
                + $"{c.NpgsqlCpuMicrosecondsPerOp:0} → {c.RoutingCpuMicrosecondsPerOp:0} | {c.NpgsqlAllocatedBytesPerOp:0} → {c.RoutingAllocatedBytesPerOp:0} | {c.Errors} |");
        }
        s.AppendLine();
        s.AppendLine(inv, $"Placement on a 1+2 cluster (the primary weight 0), routed `query` at 8 callers for {placement.Seconds:0.#} s: {placement.StandbyReads} of {placement.AllReads} reads on the standbys "
            + $"({(placement.AllReads == 0 ? double.NaN : 100.0 * placement.StandbyReads / placement.AllReads):0.0}%; target 100%), {placement.OpsPerSecond:0} ops/s, {placement.Errors} errors.");

        Directory.CreateDirectory(settings.OutputDirectory);
        var baseName = ResultsFiles.FreeBaseName(settings.OutputDirectory, string.Create(inv, $"{started:yyyy-MM-dd}-{machine.HostName.ToLowerInvariant()}-ef"));
        var md = Path.Combine(settings.OutputDirectory, baseName + ".md");
        await File.WriteAllTextAsync(md, s.ToString(), cancellationToken);
        var json = JsonSerializer.Serialize(new { StartedAt = started, settings.Command, Machine = machine, LoadAverage = load.One, Cells = cells, Placement = placement, Measurements = measurements },
            new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        await File.WriteAllTextAsync(Path.ChangeExtension(md, ".json"), json + "\n", cancellationToken);
        progress.WriteLine();
        progress.Write(s.ToString());
        progress.WriteLine($"results: {Path.GetRelativePath(settings.RepositoryRoot, md)} (+ .json)");
        return 0;
    }

    private static async Task<(List<Measurement>, string)> OverheadAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 0, NamePrefix = "ef-", StartTimeout = TimeSpan.FromSeconds(120) }, cancellationToken);
        var cs = cluster.Primary.ConnectionStringWith(b => b.ApplicationName = "bench-ef");
        await using var plain = NpgsqlDataSource.Create(cs);
        var builder = new PgRoutingDataSourceBuilder();
        builder.AddBackend(cluster.Primary.Name, cs);
        await using var routing = builder.Build();
        await routing.RefreshStatusAsync(cancellationToken);
        var plainContexts = Factory(b => b.UseNpgsql(plain));
        var routedContexts = Factory(b => b.UseRoutingDataSource(routing));
        var noRetryContexts = Factory(b => b.UseRoutingDataSource(routing, o => o.ExecutionStrategy(d => new NonRetryingExecutionStrategy(d))));
        var unpositionedBuilder = new PgRoutingDataSourceBuilder();
        unpositionedBuilder.AddBackend(cluster.Primary.Name, cs);
        unpositionedBuilder.Options.ReadYourWrites = ReadYourWritesScope.None;
        await using var unpositioned = unpositionedBuilder.Build();
        await unpositioned.RefreshStatusAsync(cancellationToken);
        var unpositionedContexts = Factory(b => b.UseRoutingDataSource(unpositioned));
        await SeedAsync(plainContexts, cancellationToken);

        var operations = new (string Name, Func<PooledDbContextFactory<BenchContext>, Task> Run)[] { ("query", QueryAsync), ("save", SaveAsync) };
        var systems = new (string Key, PooledDbContextFactory<BenchContext> Contexts)[] { ("npgsql", plainContexts), ("routing", routedContexts), ("routing-noretry", noRetryContexts), ("routing-norw", unpositionedContexts) };
        foreach (var (_, op) in operations)
        {
            foreach (var (_, contexts) in systems)
                await OverheadComparison.MeasureAsync(() => op(contexts), Callers.Max(), TimeSpan.Zero, TimeSpan.FromSeconds(1), cancellationToken); // JIT, pools
        }

        if (settings.Thread)
        {
            // The synchronous operation on one dedicated thread, its CPU alone (see OneThreadComparison): before/after a change.
            Action<PooledDbContextFactory<BenchContext>> sync = settings.Op == "save" ? Save : Query;
            var candidate = systems.Single(x => x.Key == settings.Candidate).Contexts;
            progress.WriteLine($"ef --thread, {settings.Op}:");
            progress.WriteLine(OneThreadComparison.Run(("npgsql", () => sync(plainContexts)), (settings.Candidate, () => sync(candidate)),
                settings.Rounds, 5_000, warmup: 20_000));
            return ([], cluster.ServerVersion);
        }

        if (settings.Only is { } only)
        {
            // One system alone, one operation at 1 caller, for a sampling profiler (perf record; see benchmarks/README.md).
            var contexts = systems.Single(x => x.Key == only).Contexts;
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ef: {only} {settings.Op} alone for {settings.Seconds:0.#} s (process {Environment.ProcessId})"));
            Func<PooledDbContextFactory<BenchContext>, Task> run = settings.Op == "save" ? SaveAsync : QueryAsync;
            var w = await OverheadComparison.MeasureAsync(() => run(contexts), 1, TimeSpan.Zero, TimeSpan.FromSeconds(settings.Seconds), cancellationToken);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  x1: {w.ProcessCpu.TotalMicroseconds / Math.Max(1, w.Ops):0.0} µs CPU/op, {w.AllocatedBytes / (double)Math.Max(1, w.Ops):0} B/op over {w.Ops} operations"));
            return ([], cluster.ServerVersion);
        }

        var measurements = new List<Measurement>();
        foreach (var (name, op) in operations)
        {
            foreach (var callers in Callers)
            {
                await OverheadComparison.MeasureAsync(() => op(routedContexts), callers, TimeSpan.Zero, OverheadComparison.Ramp, cancellationToken);
                for (var round = 1; round <= settings.Rounds; round++)
                {
                    var order = round % 2 == 1 ? systems : systems.Reverse().ToArray(); // each routed one beside the plain one
                    foreach (var (key, contexts) in order)
                    {
                        var w = await OverheadComparison.MeasureAsync(() => op(contexts), callers, OverheadComparison.Warmup, settings.Duration, cancellationToken);
                        measurements.Add(new Measurement(name, key, callers, round, w.Ops / w.Seconds, w.AllocatedBytes / (double)Math.Max(1, w.Ops),
                            w.ProcessCpu.TotalMicroseconds / Math.Max(1, w.Ops), w.Errors));
                    }
                }
                var last = measurements.Where(m => m.Operation == name && m.Callers == callers).GroupBy(m => m.System)
                    .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {Stats.Median(g.Select(m => m.OpsPerSecond)):0}/s"));
                progress.WriteLine($"ef {name} x{callers}: {string.Join(" | ", last)}");
            }
        }
        return (measurements, cluster.ServerVersion);
    }

    internal sealed record Placement(long StandbyReads, long AllReads, double OpsPerSecond, double Seconds, long Errors);

    private static async Task<Placement> PlacementAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, NamePrefix = "efp-", StartTimeout = TimeSpan.FromSeconds(120) }, cancellationToken);
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var n in cluster.Nodes)
            builder.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, cluster.Primary) ? 0 : 1);
        await using var routing = builder.Build();
        var contexts = Factory(b => b.UseRoutingDataSource(routing));
        await SeedAsync(contexts, cancellationToken);
        await cluster.WaitForReplicationAsync(cancellationToken: cancellationToken);
        await routing.RefreshStatusAsync(cancellationToken);
        await OverheadComparison.MeasureAsync(() => QueryAsync(contexts), 8, TimeSpan.Zero, TimeSpan.FromSeconds(0.5), cancellationToken);
        var before = routing.GetStatus().Backends.ToDictionary(b => b.Name, b => b.ReadCount);
        var seconds = Math.Max(1, settings.Rounds * settings.Duration.TotalSeconds / 4);
        var w = await OverheadComparison.MeasureAsync(() => QueryAsync(contexts), 8, TimeSpan.Zero, TimeSpan.FromSeconds(seconds), cancellationToken);
        var status = routing.GetStatus().Backends;
        var standby = status.Where(b => b.Name != cluster.Primary.Name).Sum(b => b.ReadCount - before[b.Name]);
        var all = status.Sum(b => b.ReadCount - before[b.Name]);
        progress.WriteLine($"ef placement: {standby} of {all} reads on the standbys");
        return new Placement(standby, all, w.Ops / w.Seconds, seconds, w.Errors);
    }

    private static PooledDbContextFactory<BenchContext> Factory(Action<DbContextOptionsBuilder<BenchContext>> configure)
    {
        var b = new DbContextOptionsBuilder<BenchContext>();
        configure(b);
        return new PooledDbContextFactory<BenchContext>(b.Options);
    }

    private static async Task SeedAsync(PooledDbContextFactory<BenchContext> contexts, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.EnsureCreatedAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync($"INSERT INTO \"Items\" (\"Name\", \"Counter\") SELECT 'item ' || g, g FROM generate_series(1, {Rows}) g", cancellationToken);
    }

    private static async Task QueryAsync(PooledDbContextFactory<BenchContext> contexts)
    {
        var key = Random.Shared.Next(1, Rows + 1);
        await using var db = await contexts.CreateDbContextAsync();
        _ = await db.Items.FirstOrDefaultAsync(i => i.Id == key);
    }

    private static void Query(PooledDbContextFactory<BenchContext> contexts)
    {
        var key = Random.Shared.Next(1, Rows + 1);
        using var db = contexts.CreateDbContext();
        _ = db.Items.FirstOrDefault(i => i.Id == key);
    }

    private static void Save(PooledDbContextFactory<BenchContext> contexts)
    {
        using var db = contexts.CreateDbContext();
        db.Items.Add(new BenchItem { Name = "saved", Counter = 1 });
        db.SaveChanges();
    }

    private static async Task SaveAsync(PooledDbContextFactory<BenchContext> contexts)
    {
        await using var db = await contexts.CreateDbContextAsync();
        db.Items.Add(new BenchItem { Name = "saved", Counter = 1 });
        await db.SaveChangesAsync();
    }
}
