using System.Globalization;
using System.Text;
using Npgsql;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Overhead;
using RoutingDataSource.Benchmarks.Comparison.Results;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Cpu;

/// <summary>
/// The CPU cell, <c>./build.sh bench cpu [--rounds N] [--statements N] [--callers A,B] [--only SYSTEM --seconds S] [--pieces] [--thread]</c>:
/// the overhead part's statement (<c>SELECT 1</c>: open, execute, close) through a one-backend
/// <see cref="PgRoutingDataSource"/> and a plain <see cref="NpgsqlDataSource"/> on the same server, but measured by
/// what does not depend on the machine's load: this process's CPU time (getrusage(2)) and the bytes it allocated, per
/// statement, over a fixed count of statements rather than a fixed time. Rounds alternate the systems' order; the
/// figures are medians over rounds, the extra CPU the median of the rounds' paired differences with its 95% interval.
/// <c>--only</c> runs one system alone for <c>--seconds</c> (for a sampling profiler such as <c>perf record</c>);
/// <c>--pieces</c> times the pieces of a statement that need no server, one thread, tight loops; <c>--thread</c> runs the
/// synchronous statement on one dedicated thread and counts that thread's CPU alone (see <see cref="RunOnOneThread"/>).
/// </summary>
internal static class CpuCommand
{
    internal sealed record Settings(int Rounds, int Statements, IReadOnlyList<int> Callers, string? Only, double Seconds, bool Pieces, bool Thread, string OutputDirectory, string Command);

    internal sealed record Measurement(string System, int Callers, int Round, double CpuMicrosecondsPerOp, double AllocatedBytesPerOp);

    public static Task<int> RunAsync(string[] args) => ConsoleCommand.RunAsync(() => Parse(args), RunAsync);

    private static Settings Parse(string[] args)
    {
        var root = CompareSettings.Parse([]).RepositoryRoot;
        var s = new Settings(20, 20_000, [1, 16], null, 20, false, false, Path.Combine(root, "benchmarks", "results"),
            Environment.GetEnvironmentVariable("BENCH_COMMAND") ?? "dotnet run --project benchmarks/RoutingDataSource.Benchmarks -c Release -- cpu " + string.Join(' ', args));
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            s = a switch
            {
                "--rounds" => s with { Rounds = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--statements" => s with { Statements = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--callers" => s with { Callers = Value().Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() },
                "--only" => s with { Only = Value() },
                "--seconds" => s with { Seconds = double.Parse(Value(), CultureInfo.InvariantCulture) },
                "--pieces" => s with { Pieces = true },
                "--thread" => s with { Thread = true },
                "--out" => s with { OutputDirectory = Path.GetFullPath(Value()) },
                _ => throw new ArgumentException($"Unknown argument '{a}'. Usage: cpu [--rounds N] [--statements N] [--callers A,B] [--only npgsql|routing1 --seconds S] [--pieces] [--thread] [--out DIR]"),
            };
        }
        if (s.Rounds < 1 || s.Statements < 1 || s.Callers.Count == 0 || s.Callers.Any(c => c < 1) || s.Seconds <= 0)
            throw new ArgumentException("Rounds, statements, callers and seconds must be positive.");
        if (s.Only is not null and not ("npgsql" or "routing1"))
            throw new ArgumentException("--only takes npgsql or routing1.");
        return s;
    }

    private static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var progress = Console.Out;
        await using var server = await OneServer.StartAsync("cpu-", "bench-cpu", cancellationToken);
        var (cluster, plain, routing, systems) = (server.Cluster, server.Plain, server.Routing, server.Systems);

        if (settings.Pieces)
        {
            // Pieces of a statement that need no server, each on this one thread in a tight loop: CPU per call.
            progress.WriteLine("cpu: pieces of a statement without a server, CPU per call (this process: one thread looping, the health monitor beside it)");
            await using var c = await routing.OpenConnectionAsync(cancellationToken);
            var session = RoutingDataSource.Routing.SessionState.Initial;
            for (var r = 0; r < 6; r++)
            {
                var cpu0 = ResourceUsage.ProcessCpu();
                for (var i = 0; i < 20_000_000; i++)
                    _ = routing.Selector.ReadNodeAsync(session, c, CancellationToken.None).Result;
                var cpu1 = ResourceUsage.ProcessCpu();
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  server for a plain read (BackendSelector.ReadNodeAsync): {(cpu1 - cpu0).TotalNanoseconds / 20_000_000:0.0} ns"));
            }
            for (var r = 0; r < 4; r++)
            {
                var cpu0 = ResourceUsage.ProcessCpu();
                for (var i = 0; i < 2_000_000; i++)
                {
                    await using var conn = await routing.OpenConnectionAsync(CancellationToken.None);
                    await using var cmd = conn.CreateCommand();
                    cmd.CommandText = OverheadComparison.Statement;
                }
                var cpu1 = ResourceUsage.ProcessCpu();
                for (var i = 0; i < 2_000_000; i++)
                {
                    await using var conn = plain.CreateConnection();
                    await using var cmd = new NpgsqlCommand(OverheadComparison.Statement, conn);
                }
                var cpu2 = ResourceUsage.ProcessCpu();
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  open, command, close without a statement: routing {(cpu1 - cpu0).TotalNanoseconds / 2_000_000:0.0} ns; Npgsql's connection (not opened) and command {(cpu2 - cpu1).TotalNanoseconds / 2_000_000:0.0} ns"));
            }
            return 0;
        }

        if (settings.Thread)
            return RunOnOneThread(settings, server, progress);

        // JIT tiering and pool growth before anything is measured.
        foreach (var (_, run) in systems)
            await RunCountAsync(run, settings.Callers.Max(), 20_000, cancellationToken);

        if (settings.Only is { } only)
        {
            var run = systems.Single(s => s.Key == only).Run;
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cpu: {only} alone, {settings.Seconds:0.#} s per concurrency (process {Environment.ProcessId})"));
            foreach (var callers in settings.Callers)
            {
                var until = DateTime.UtcNow.AddSeconds(settings.Seconds);
                var (cpu, allocated, ops) = (TimeSpan.Zero, 0L, 0L);
                var (items, contention, gcs) = (ThreadPool.CompletedWorkItemCount, Monitor.LockContentionCount, GC.CollectionCount(0));
                while (DateTime.UtcNow < until)
                {
                    var m = await RunCountAsync(run, callers, settings.Statements, cancellationToken);
                    cpu += m.Cpu;
                    allocated += m.Allocated;
                    ops += settings.Statements;
                }
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  x{callers}: {cpu.TotalMicroseconds / ops:0.00} µs CPU/op, {allocated / (double)ops:0} B/op over {ops} statements, {(ThreadPool.CompletedWorkItemCount - items) / (double)ops:0.000} work items/op, {(Monitor.LockContentionCount - contention) / (double)ops:0.0000} contentions/op, {GC.CollectionCount(0) - gcs} gen0 GCs"));
            }
            return 0;
        }

        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cpu: {OverheadComparison.Statement} on one server, {settings.Rounds} rounds of {settings.Statements} statements per system and concurrency"));
        var measurements = new List<Measurement>();
        foreach (var callers in settings.Callers)
        {
            for (var round = 1; round <= settings.Rounds; round++)
            {
                var order = round % 2 == 1 ? systems : systems.Reverse().ToArray();
                foreach (var (key, run) in order)
                {
                    var m = await RunCountAsync(run, callers, settings.Statements, cancellationToken);
                    measurements.Add(new Measurement(key, callers, round, m.Cpu.TotalMicroseconds / settings.Statements, m.Allocated / (double)settings.Statements));
                }
            }
            var report = Summarize(measurements.Where(m => m.Callers == callers).ToList());
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  x{callers}: {report}"));
        }

        Directory.CreateDirectory(settings.OutputDirectory);
        var name = ResultsFiles.FreeBaseName(settings.OutputDirectory, DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "-" + Environment.MachineName.ToLowerInvariant() + "-cpu");
        var path = Path.Combine(settings.OutputDirectory, name + ".md");
        await File.WriteAllTextAsync(path, Markdown(settings, measurements, cluster.ServerVersion), cancellationToken);
        progress.WriteLine($"cpu: results in {path}");
        return 0;
    }

    private static string Summarize(IReadOnlyList<Measurement> ms)
    {
        var (cpuPlain, cpuOurs, diff, allocPlain, allocOurs, allocRatio) = Figures(ms);
        return string.Create(CultureInfo.InvariantCulture,
            $"npgsql {cpuPlain:0.00} µs {allocPlain:0} B | routing1 {cpuOurs:0.00} µs {allocOurs:0} B | extra CPU {diff.Median:+0.00;-0.00} µs ({diff.Low:+0.00;-0.00} to {diff.High:+0.00;-0.00}), allocation ratio {allocRatio:0.000}");
    }

    private static (double CpuPlain, double CpuOurs, Estimate Diff, double AllocPlain, double AllocOurs, double AllocRatio) Figures(IReadOnlyList<Measurement> ms)
    {
        var plain = ms.Where(m => m.System == "npgsql").ToDictionary(m => m.Round);
        var ours = ms.Where(m => m.System == "routing1").ToDictionary(m => m.Round);
        var rounds = plain.Keys.Intersect(ours.Keys).ToArray();
        return (Stats.Median(plain.Values.Select(m => m.CpuMicrosecondsPerOp)), Stats.Median(ours.Values.Select(m => m.CpuMicrosecondsPerOp)),
            Stats.MedianWithInterval(rounds.Select(r => ours[r].CpuMicrosecondsPerOp - plain[r].CpuMicrosecondsPerOp)),
            Stats.Median(plain.Values.Select(m => m.AllocatedBytesPerOp)), Stats.Median(ours.Values.Select(m => m.AllocatedBytesPerOp)),
            Stats.Median(rounds.Select(r => ours[r].AllocatedBytesPerOp / plain[r].AllocatedBytesPerOp)));
    }

    private static string Markdown(Settings settings, IReadOnlyList<Measurement> measurements, string serverVersion)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(inv, $"# CPU per statement {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.MachineName}");
        sb.AppendLine();
        sb.AppendLine(inv, $"Command: `{settings.Command}`, at commit {Commit()}. {Environment.ProcessorCount} cores, .NET {Environment.Version}, {serverVersion}, load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}.");
        sb.AppendLine();
        sb.AppendLine(inv, $"`{OverheadComparison.Statement}` (open, execute, close) in a closed loop, {settings.Rounds} rounds of {settings.Statements} statements per system and number of callers, the systems' order alternating. CPU: this process's user + system time (getrusage, thread-pool spinning included) per statement; allocated: GC.GetTotalAllocatedBytes per statement (the health monitor's included). Medians over rounds; the extra CPU is the median of the rounds' paired differences, with its 95% interval.");
        sb.AppendLine();
        sb.AppendLine("| callers | npgsql µs/op | routing1 µs/op | extra µs/op (95% CI) | npgsql B/op | routing1 B/op | allocated ÷ Npgsql |");
        sb.AppendLine("|---:|---:|---:|---|---:|---:|---:|");
        foreach (var callers in settings.Callers)
        {
            var (cpuPlain, cpuOurs, diff, allocPlain, allocOurs, allocRatio) = Figures(measurements.Where(m => m.Callers == callers).ToList());
            sb.AppendLine(inv, $"| {callers} | {cpuPlain:0.00} | {cpuOurs:0.00} | {diff.Median:+0.00;-0.00} ({diff.Low:+0.00;-0.00} to {diff.High:+0.00;-0.00}) | {allocPlain:0} | {allocOurs:0} | {allocRatio:0.000} |");
        }
        return sb.ToString();
    }

    private static string Commit()
    {
        try
        {
            using var git = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", ["-C", CompareSettings.Parse([]).RepositoryRoot, "rev-parse", "--short=12", "HEAD"])
            { RedirectStandardOutput = true, RedirectStandardError = true });
            var head = git?.StandardOutput.ReadToEnd().Trim();
            git?.WaitForExit();
            return string.IsNullOrEmpty(head) ? "unknown" : head;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown (no git)";
        }
    }

    // --thread: the synchronous statement (open, ExecuteScalar, close) on one dedicated thread (see OneThreadComparison).
    private static int RunOnOneThread(Settings settings, OneServer server, TextWriter progress)
    {
        progress.WriteLine(OneThreadComparison.Run(
            ("npgsql", () =>
            {
                using var conn = server.Plain.OpenConnection();
                using var cmd = new NpgsqlCommand(OverheadComparison.Statement, conn);
                cmd.ExecuteScalar();
            }),
            ("routing1", () =>
            {
                using var conn = server.Routing.OpenConnection();
                using var cmd = conn.CreateCommand();
                cmd.CommandText = OverheadComparison.Statement;
                cmd.ExecuteScalar();
            }),
            settings.Rounds, settings.Statements, warmup: 20_000));
        return 0;
    }

    // Runs count statements spread over the callers (a closed loop each) and measures the process's CPU and allocation.
    private static async Task<(TimeSpan Cpu, long Allocated)> RunCountAsync(Func<Task> statement, int callers, int count, CancellationToken cancellationToken)
    {
        var left = count;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = ResourceUsage.ProcessCpu();
        var tasks = new Task[callers];
        for (var i = 0; i < callers; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                while (Interlocked.Decrement(ref left) >= 0 && !cancellationToken.IsCancellationRequested)
                    await statement();
            }, CancellationToken.None);
        }
        await Task.WhenAll(tasks);
        cpu = ResourceUsage.ProcessCpu() - cpu;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return (cpu, allocated);
    }
}
