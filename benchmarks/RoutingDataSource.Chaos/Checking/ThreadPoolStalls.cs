using System.Diagnostics;

namespace RoutingDataSource.Chaos.Checking;

/// <summary>
/// Measures, from a thread of its own, how long a work item queued to the thread pool waits before it runs (every
/// 100 ms). The data source, the in-process coordinator and the fault proxies all run on that pool: a long wait means
/// something blocked its threads, and then every one of them sees timeouts that no server caused.
/// </summary>
internal sealed class ThreadPoolStalls : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);

    private readonly RunClock _clock;
    private readonly List<(double At, double DelaySeconds)> _samples = [];
    private readonly Thread _thread;
    private volatile bool _stop;

    public ThreadPoolStalls(RunClock clock)
    {
        _clock = clock;
        _thread = new Thread(Loop) { IsBackground = true, Name = "thread-pool stall monitor" };
        _thread.Start();
    }

    /// <summary>The longest wait of a work item queued within [<paramref name="from"/>, <paramref name="to"/>], in seconds.</summary>
    public double MaxDelay(double from, double to)
    {
        lock (_samples)
            return _samples.Where(s => s.At >= from && s.At <= to).Select(s => s.DelaySeconds).DefaultIfEmpty(0).Max();
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(10));
    }

    private void Loop()
    {
        using var ran = new ManualResetEventSlim();
        while (!_stop)
        {
            ran.Reset();
            var queuedAt = _clock.Now;
            var started = Stopwatch.GetTimestamp();
            ThreadPool.UnsafeQueueUserWorkItem(static e => e.Set(), ran, preferLocal: false);
            // A pool that never runs it is a stall too: measured up to a minute, then noted as such.
            ran.Wait(TimeSpan.FromMinutes(1));
            lock (_samples)
                _samples.Add((queuedAt, Stopwatch.GetElapsedTime(started).TotalSeconds));
            Thread.Sleep(Period);
        }
    }
}
