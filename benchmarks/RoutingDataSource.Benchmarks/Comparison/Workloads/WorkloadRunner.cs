using System.Diagnostics;
using RoutingDataSource.Benchmarks.Comparison.Infrastructure;
using RoutingDataSource.Benchmarks.Comparison.Systems;

namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>
/// Drives one system with N concurrent callers for a warm-up and then a fixed measured window. Each caller runs one
/// operation after the other (closed loop, no think time), each on a connection opened and closed around it. An
/// operation counts in the window when it completes inside it; its latency is recorded exactly (no histogram buckets).
/// Errors are counted, never retried by the runner: a failed operation is followed, after 10 ms, by the next one.
/// </summary>
internal static class WorkloadRunner
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(30);

    public static async Task<Measurement> RunAsync(ISystemUnderTest system, Workload workload, int callers, int round, int accounts,
        TimeSpan warmup, TimeSpan duration, int seed, CancellationToken cancellationToken)
    {
        var freq = Stopwatch.Frequency;
        var start = Stopwatch.GetTimestamp();
        var from = start + (long)(warmup.TotalSeconds * freq);
        var to = from + (long)(duration.TotalSeconds * freq);
        using var hardStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hardStop.CancelAfter(warmup + duration + StopGrace);

        var states = new CallerState[callers];
        var tasks = new Task[callers];
        for (var i = 0; i < callers; i++)
        {
            var state = states[i] = new CallerState(new Random(seed * 1000 + i));
            tasks[i] = Task.Run(() => CallerAsync(system, workload, accounts, state, from, to, hardStop.Token), CancellationToken.None);
        }

        await DelayUntilAsync(from, cancellationToken);
        var placementBefore = await system.ReadPlacementAsync(cancellationToken);
        var cpu = CpuMeter.Start();
        await DelayUntilAsync(to, cancellationToken);
        var cpuShare = cpu.Stop();
        var placementAfter = await system.ReadPlacementAsync(cancellationToken);
        try
        {
            await Task.WhenAll(tasks).WaitAsync(StopGrace, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{system.Key}: callers still busy {StopGrace.TotalSeconds:0} s after the window closed (a hung operation).");
        }

        var samples = new LatencySamples(states.Select(s => s.Latencies));
        var placement = placementAfter - placementBefore;
        var seconds = (double)(to - from) / freq;
        var reads = states.Sum(s => s.Reads);
        var writes = states.Sum(s => s.Writes);
        return new Measurement
        {
            System = system.Key,
            Workload = workload.Key,
            Callers = callers,
            Round = round,
            Seconds = seconds,
            Reads = reads,
            Writes = writes,
            Errors = states.Sum(s => s.Errors),
            OpsPerSecond = (reads + writes) / seconds,
            P50Ms = samples.PercentileMs(0.50),
            P99Ms = samples.PercentileMs(0.99),
            StandbyReadShare = placement.Total > 0 ? Math.Clamp((double)placement.OnStandbys / placement.Total, 0, 1) : null,
            FirstStandbyShare = placement.OnStandbys > 0 ? Math.Clamp((double)placement.OnFirstStandby / placement.OnStandbys, 0, 1) : null,
            Cpu = cpuShare,
            ErrorSamples = states.SelectMany(s => s.ErrorSamples).Distinct().Take(5).ToList(),
        };
    }

    private static async Task CallerAsync(ISystemUnderTest system, Workload workload, int accounts, CallerState state, long from, long to, CancellationToken hardStop)
    {
        var random = state.Random;
        while (true)
        {
            var write = workload.NextIsWrite(random);
            var aid = random.Next(1, accounts + 1);
            (int Aid, int? Delta)[]? session = null;
            if (workload.SessionStatements > 0)
            {
                session = new (int, int?)[workload.SessionStatements];
                for (var i = 0; i < session.Length; i++)
                    session[i] = (random.Next(1, accounts + 1), workload.NextIsWrite(random) ? random.Next(-5000, 5001) : null);
            }
            var t0 = Stopwatch.GetTimestamp();
            Exception? error = null;
            try
            {
                if (session is not null)
                    await system.TenantSessionAsync(random.Next(1, 1001), session, hardStop);
                else if (write)
                    await system.WriteAsync(aid, random.Next(-5000, 5001), hardStop);
                else
                    await system.ReadAsync(aid, hardStop);
            }
            catch (Exception e) when (!hardStop.IsCancellationRequested)
            {
                error = e;
            }

            var t1 = Stopwatch.GetTimestamp();
            if (t1 >= from && t1 <= to)
            {
                if (error is null)
                {
                    state.Latencies.Add(t1 - t0);
                    if (session is not null)
                    {
                        var writes = session.Count(s => s.Delta is not null);
                        state.Writes += writes;
                        state.Reads += session.Length - writes;
                    }
                    else if (write)
                        state.Writes++;
                    else
                        state.Reads++;
                }
                else
                {
                    state.Errors++;
                    if (state.ErrorSamples.Count < 3)
                        state.ErrorSamples.Add($"{error.GetType().Name}: {error.Message}");
                }
            }

            if (t1 > to || hardStop.IsCancellationRequested)
                return;
            if (error is not null)
                await Task.Delay(10, hardStop);
        }
    }

    private static async Task DelayUntilAsync(long timestamp, CancellationToken cancellationToken)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (left > TimeSpan.Zero)
            await Task.Delay(left, cancellationToken);
    }

    private sealed class CallerState(Random random)
    {
        public Random Random { get; } = random;
        public List<long> Latencies { get; } = new(1 << 14);
        public List<string> ErrorSamples { get; } = [];
        public long Reads { get; set; }
        public long Writes { get; set; }
        public long Errors { get; set; }
    }
}
