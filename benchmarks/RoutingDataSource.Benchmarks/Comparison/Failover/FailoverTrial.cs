using System.Diagnostics;
using RoutingDataSource.Benchmarks.Comparison.Systems;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// One failover trial: writers update rows through the system in a closed loop; after a random 1-2 s the primary is
/// stopped immediately (SIGQUIT, as <c>pg_ctl -m immediate</c>); the result is the time from the stop to the end of
/// the first write that succeeded and was started after the old primary's postmaster was gone (so the old primary
/// cannot have served it). A failed write is counted and the writer tries again after 10 ms.
/// </summary>
internal static class FailoverTrial
{
    public const int Writers = 4;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task<TrialOutcome> RunAsync(ISystemUnderTest system, LocalPgCluster cluster, int rows, CancellationToken cancellationToken)
    {
        var state = new State();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writers = Enumerable.Range(0, Writers).Select(i => Task.Run(() => WriterAsync(system, rows, i, state, stop.Token), CancellationToken.None)).ToArray();
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1000 + Random.Shared.Next(1000)), cancellationToken);
            var before = Interlocked.Read(ref state.Successes);
            state.KilledAt = Stopwatch.GetTimestamp();
            await cluster.Primary.StopAsync(immediate: true, cancellationToken);
            Volatile.Write(ref state.DeadAt, Stopwatch.GetTimestamp());
            long? firstWrite = null;
            try
            {
                firstWrite = await state.FirstWriteAfterDeath.Task.WaitAsync(Limit, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Reported as a trial without a write within the limit.
            }

            return new TrialOutcome(
                firstWrite is { } end ? Stopwatch.GetElapsedTime(state.KilledAt, end) : null,
                Stopwatch.GetElapsedTime(state.KilledAt, state.DeadAt),
                before,
                Interlocked.Read(ref state.Errors),
                state.ErrorSamples.ToArray());
        }
        finally
        {
            try
            {
                await stop.CancelAsync();
            }
            catch (AggregateException e) when (e.InnerExceptions.All(x => x is ObjectDisposedException))
            {
                // Npgsql registers a cancellation callback per command; one whose connector the failover already broke
                // and disposed throws from inside Cancel. The writers stop all the same.
            }

            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(35), CancellationToken.None);
        }
    }

    private static async Task WriterAsync(ISystemUnderTest system, int rows, int writer, State state, CancellationToken stop)
    {
        var random = new Random(writer);
        while (!stop.IsCancellationRequested)
        {
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                await system.WriteAsync(random.Next(1, rows + 1), 1, stop);
                var t1 = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref state.Successes);
                var dead = Volatile.Read(ref state.DeadAt);
                if (dead != 0 && t0 >= dead)
                    state.FirstWriteAfterDeath.TrySetResult(t1);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref state.Errors);
                lock (state.ErrorSamples)
                {
                    var text = $"{e.GetType().Name}: {e.Message}";
                    if (state.ErrorSamples.Count < 4 && !state.ErrorSamples.Contains(text))
                        state.ErrorSamples.Add(text);
                }

                try
                {
                    await Task.Delay(10, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private sealed class State
    {
        public long Successes;
        public long Errors;
        public long KilledAt;
        public long DeadAt;
        public readonly List<string> ErrorSamples = [];
        public readonly TaskCompletionSource<long> FirstWriteAfterDeath = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>What one trial measured: null <see cref="TimeToFirstWrite"/> means no write succeeded within 30 s.</summary>
internal sealed record TrialOutcome(TimeSpan? TimeToFirstWrite, TimeSpan StopTook, long WritesBefore, long Errors, IReadOnlyList<string> ErrorSamples);
