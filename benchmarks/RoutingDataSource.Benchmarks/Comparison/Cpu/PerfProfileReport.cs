using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace RoutingDataSource.Benchmarks.Comparison.Cpu;

/// <summary>
/// <c>cpu-profile PERF.DATA PID STATEMENTS [HZ]</c>: reads a <c>perf record -g</c> profile of a <c>cpu --only</c> run
/// (through <c>perf script</c>) and prints, per statement, where that process's CPU samples fell: the managed code of each
/// assembly (the sample's innermost user-mode frame), the runtime's native code, the kernel by the system call it was
/// in, and the thread pool's idle spinning; then the innermost frames in the library and the async plumbing. Profile
/// both systems the same way and compare the columns; nested continuations make inclusive figures unreliable, so only
/// innermost (self) figures are given.
/// </summary>
internal static partial class PerfProfileReport
{
    private static readonly string[] Syscalls = ["send", "recv", "epoll_wait", "futex", "write", "read", "mprotect", "madvise", "mmap"];

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length is < 3 or > 4)
        {
            await Console.Error.WriteLineAsync("usage: cpu-profile PERF.DATA PID STATEMENTS [SAMPLING_HZ, default 2999]");
            return 2;
        }
        var pid = args[1];
        var statements = double.Parse(args[2], CultureInfo.InvariantCulture);
        var hz = args.Length == 4 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 2999;
        var perSample = 1e6 / hz / statements; // µs of CPU per statement that one sample stands for

        var categories = new Dictionary<string, int>();
        var selfFrames = new Dictionary<string, int>();
        var psi = new ProcessStartInfo("perf", ["script", "-i", args[0], "-F", "pid,tid,comm,ip,sym,dso"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var perf = Process.Start(psi) ?? throw new InvalidOperationException("perf did not start");
        _ = perf.StandardError.ReadToEndAsync();
        var frames = new List<(string Symbol, string Dso)>();
        var keep = false;
        var samples = 0;
        while (await perf.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.Length > 0 && line[0] != '\t')
            {
                if (keep)
                    Count(frames);
                var m = HeaderPid().Match(line);
                keep = m.Success && m.Groups[1].Value == pid;
                frames.Clear();
            }
            else if (keep && FrameLine().Match(line) is { Success: true } f)
            {
                frames.Add((f.Groups[1].Value, f.Groups[2].Value));
            }
        }
        if (keep)
            Count(frames);
        await perf.WaitForExitAsync();

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{samples} samples of process {pid}: {samples * perSample:0.00} µs per statement"));
        foreach (var (k, v) in categories.OrderByDescending(x => x.Value).Take(25))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{v * perSample,8:0.000}  {k}"));
        Console.WriteLine("innermost frames in RoutingDataSource and the async plumbing:");
        foreach (var (k, v) in selfFrames.OrderByDescending(x => x.Value).Take(30))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{v * perSample,8:0.000}  {k}"));
        return 0;

        void Count(List<(string Symbol, string Dso)> stack)
        {
            if (stack.Count == 0)
                return;
            samples++;
            if (stack.Exists(x => x.Symbol.Contains("sched_yield", StringComparison.Ordinal) || x.Symbol.Contains("LowLevelLifoSemaphore", StringComparison.Ordinal) || x.Symbol.Contains("LowLevelSpinWaiter", StringComparison.Ordinal)))
            {
                Add(categories, "thread pool spinning and idle waits");
                return;
            }
            var user = stack.FindIndex(x => !x.Dso.Contains("kernel", StringComparison.Ordinal));
            if (user != 0)
            {
                var leaf = user < 0 ? "" : stack[user].Symbol;
                Add(categories, "kernel: " + (Syscalls.FirstOrDefault(s => leaf.Contains(s, StringComparison.Ordinal)) ?? "other"));
                return;
            }
            var (symbol, dso) = stack[0];
            if (!dso.Contains("perf-", StringComparison.Ordinal))
            {
                Add(categories, "native: " + Path.GetFileName(dso));
                return;
            }
            var assembly = AssemblyOf().Match(symbol);
            Add(categories, "managed: " + (assembly.Success ? assembly.Groups[1].Value : "stubs and unknown"));
            if (symbol.Contains("[RoutingDataSource]", StringComparison.Ordinal) || symbol.Contains("ValueTask", StringComparison.Ordinal)
                || symbol.Contains("AsyncValueTaskMethodBuilder", StringComparison.Ordinal) || symbol.Contains("CastHelpers", StringComparison.Ordinal))
                Add(selfFrames, Tier().Replace(symbol, "")[..Math.Min(150, Tier().Replace(symbol, "").Length)]);
        }
    }

    private static void Add(Dictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    [GeneratedRegex(@" (\d+)/\d+")]
    private static partial Regex HeaderPid();

    [GeneratedRegex(@"^\s*[0-9a-f]+ (.*) \((.*)\)$")]
    private static partial Regex FrameLine();

    [GeneratedRegex(@"\[([A-Za-z.]+)\]")]
    private static partial Regex AssemblyOf();

    [GeneratedRegex(@"\[(OptimizedTier1|QuickJitted|InstrumentedTier\w*|Optimized|Tier0|PreJIT|OSR)\]")]
    private static partial Regex Tier();
}
