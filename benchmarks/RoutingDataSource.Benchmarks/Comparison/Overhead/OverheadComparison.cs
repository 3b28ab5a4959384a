using System.Diagnostics;
using System.Globalization;
using Npgsql;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Overhead;

/// <summary>
/// The routing layer's own cost, end to end: <c>SELECT 1</c> through a <see cref="PgRoutingDataSource"/> whose only
/// backend is one server, against a plain <see cref="NpgsqlDataSource"/> on that same server, at 1 and 16 concurrent
/// callers. Each caller opens a connection, runs the statement and closes the connection, in a closed loop. Per number
/// of callers, after one unmeasured ramp at that concurrency, many short pairs: the two systems one after the other
/// (the order alternating), each measured for a fixed window after a short warm-up. The throughput ratio is the median
/// of the pairs' ratios, with a confidence interval. Allocation is every byte the process allocated in the window (the
/// routing data source's health monitor included) divided by the statements completed in it.
/// </summary>
/// <remarks>
/// Why many short pairs rather than a few long ones: on the 2-core machine the noise of one window (about ±14% on a
/// log scale) hardly shrinks between 0.2 s and 1 s windows, because it comes from the machine, not from the count of
/// statements; only more pairs narrow the interval of the median. 200 pairs of 0.2 s windows take about as long as 80
/// pairs of 0.5 s did and bound the ratio at 16 callers to about ±2–3% (80 pairs: ±4–6%).
/// </remarks>
internal static class OverheadComparison
{
    public const string Statement = "SELECT 1";
    public static readonly IReadOnlyList<int> Callers = [1, 16];
    // Enough for the callers to get going on the system just switched to (its own pool is already warm).
    internal static readonly TimeSpan Warmup = TimeSpan.FromSeconds(0.05);

    // The first window after the number of callers changes runs slower whichever system it measures (thread pool and
    // server processes settling): an unmeasured ramp at the new concurrency comes before each pair.
    internal static readonly TimeSpan Ramp = TimeSpan.FromSeconds(0.5);

    public static async Task<OverheadRun> RunAsync(CompareSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        await using var server = await OneServer.StartAsync("oh-", "bench-overhead", cancellationToken);
        var cluster = server.Cluster;
        var systems = server.Systems;

        // JIT tiering and pool growth before anything is measured.
        foreach (var (_, run) in systems)
            await MeasureAsync(run, Callers.Max(), TimeSpan.Zero, TimeSpan.FromSeconds(1), cancellationToken);

        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"overhead: {Statement} on one server, {settings.OverheadRounds} pairs of {settings.OverheadDuration.TotalSeconds:0.#} s windows per concurrency"));
        var measurements = new List<OverheadMeasurement>();
        foreach (var callers in Callers)
        {
            await MeasureAsync(systems[^1].Run, callers, TimeSpan.Zero, Ramp, cancellationToken);
            for (var round = 1; round <= settings.OverheadRounds; round++)
            {
                var order = round % 2 == 1 ? systems : systems.Reverse().ToArray();
                var line = new List<string>();
                foreach (var (key, run) in order)
                {
                    var w = await MeasureAsync(run, callers, Warmup, settings.OverheadDuration, cancellationToken);
                    measurements.Add(new OverheadMeasurement(key, callers, round, w.Ops / w.Seconds, w.AllocatedBytes / (double)Math.Max(1, w.Ops),
                        w.ProcessCpu.TotalMicroseconds / Math.Max(1, w.Ops), w.Errors));
                    line.Add(string.Create(CultureInfo.InvariantCulture, $"{key} {w.Ops / w.Seconds,7:0}/s {w.AllocatedBytes / (double)Math.Max(1, w.Ops),5:0} B/op"));
                }

                if (round % 10 == 0 || round == settings.OverheadRounds)
                    progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"overhead pair {round} x{callers,-2}: {string.Join(" | ", line)}"));
            }
        }

        return new OverheadRun(measurements, cluster.ServerVersion);
    }

    internal sealed record Window(long Ops, long Errors, double Seconds, long AllocatedBytes, TimeSpan ProcessCpu);

    /// <summary>Runs the statement in a closed loop on the callers and measures one window (shared with the EF cell).</summary>
    internal static async Task<Window> MeasureAsync(Func<Task> statement, int callers, TimeSpan warmup, TimeSpan duration, CancellationToken cancellationToken)
    {
        var freq = Stopwatch.Frequency;
        var from = Stopwatch.GetTimestamp() + (long)(warmup.TotalSeconds * freq);
        var to = from + (long)(duration.TotalSeconds * freq);
        var ops = new long[callers];
        var errors = new long[callers];
        var tasks = new Task[callers];
        for (var i = 0; i < callers; i++)
        {
            var me = i;
            tasks[i] = Task.Run(async () =>
            {
                while (true)
                {
                    var now = Stopwatch.GetTimestamp();
                    if (now >= to || cancellationToken.IsCancellationRequested)
                        return;
                    try
                    {
                        await statement();
                    }
                    catch (Exception e) when (e is NpgsqlException or RoutingException or InvalidOperationException)
                    {
                        errors[me]++;
                        continue;
                    }

                    var done = Stopwatch.GetTimestamp();
                    if (done >= from && done < to)
                        ops[me]++;
                }
            }, CancellationToken.None);
        }

        await DelayUntilAsync(from, cancellationToken);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = ResourceUsage.ProcessCpu();
        await DelayUntilAsync(to, cancellationToken);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        cpu = ResourceUsage.ProcessCpu() - cpu;
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        return new Window(ops.Sum(), errors.Sum(), duration.TotalSeconds, allocated, cpu);
    }

    private static async Task DelayUntilAsync(long timestamp, CancellationToken cancellationToken)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (left > TimeSpan.Zero)
            await Task.Delay(left, cancellationToken);
    }
}

/// <summary>
/// One local server, a plain <see cref="NpgsqlDataSource"/> and a <see cref="PgRoutingDataSource"/> whose only backend
/// it is, and the statement each system runs (<see cref="OverheadComparison.Statement"/>: open, execute, close).
/// Shared by the overhead part and the CPU cell.
/// </summary>
internal sealed class OneServer : IAsyncDisposable
{
    private OneServer(LocalPgCluster cluster, NpgsqlDataSource plain, PgRoutingDataSource routing)
    {
        Cluster = cluster;
        Plain = plain;
        Routing = routing;
        Systems =
        [
            ("npgsql", async () =>
            {
                await using var conn = await plain.OpenConnectionAsync(CancellationToken.None);
                await using var cmd = new NpgsqlCommand(OverheadComparison.Statement, conn);
                await cmd.ExecuteScalarAsync(CancellationToken.None);
            }),
            ("routing1", async () =>
            {
                await using var conn = await routing.OpenConnectionAsync(CancellationToken.None);
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = OverheadComparison.Statement;
                await cmd.ExecuteScalarAsync(CancellationToken.None);
            }),
        ];
    }

    public LocalPgCluster Cluster { get; }

    public NpgsqlDataSource Plain { get; }

    public PgRoutingDataSource Routing { get; }

    /// <summary>Plain Npgsql first, then the routing data source.</summary>
    public (string Key, Func<Task> Run)[] Systems { get; }

    public static async Task<OneServer> StartAsync(string namePrefix, string applicationName, CancellationToken cancellationToken)
    {
        var options = new LocalPgClusterOptions { Standbys = 0, NamePrefix = namePrefix, StartTimeout = TimeSpan.FromSeconds(120) };
        var cluster = await LocalPgCluster.StartAsync(options, cancellationToken);
        NpgsqlDataSource? plain = null;
        PgRoutingDataSource? routing = null;
        try
        {
            var cs = cluster.Primary.ConnectionStringWith(b => b.ApplicationName = applicationName);
            plain = NpgsqlDataSource.Create(cs);
            var builder = new PgRoutingDataSourceBuilder();
            builder.AddBackend(cluster.Primary.Name, cs);
            routing = builder.Build();
            await routing.RefreshStatusAsync(cancellationToken);
            return new OneServer(cluster, plain, routing);
        }
        catch
        {
            if (routing is not null)
                await routing.DisposeAsync();
            if (plain is not null)
                await plain.DisposeAsync();
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Routing.DisposeAsync();
        await Plain.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>One system at one concurrency in one round.</summary>
internal sealed record OverheadMeasurement(string System, int Callers, int Round, double OpsPerSecond, double AllocatedBytesPerOp, double ProcessCpuMicrosecondsPerOp, long Errors);

/// <summary>Everything the overhead part measured.</summary>
internal sealed record OverheadRun(IReadOnlyList<OverheadMeasurement> Measurements, string ServerVersion);
