using System.Diagnostics;
using RoutingDataSource.Benchmarks.Comparison.Systems;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// One failover trial: writers update rows through the system in a closed loop; after a random 1-2 s the primary is
/// stopped immediately (SIGQUIT, as <c>pg_ctl -m immediate</c>); the result is the time from the stop to the end of
/// the first write that succeeded and was started after the old primary's postmaster was gone (so the old primary
/// cannot have served it). A failed write is counted and the writer tries again after 10 ms (<see cref="WriteLoad"/>).
/// </summary>
internal static class FailoverTrial
{
    public const int Writers = WriteLoad.Writers;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task<TrialOutcome> RunAsync(ISystemUnderTest system, LocalPgCluster cluster, int rows, CancellationToken cancellationToken)
    {
        var randoms = Enumerable.Range(0, Writers).Select(i => new Random(i)).ToArray();
        long deadAt = 0;
        var firstWriteAfterDeath = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = new WriteLoad(
            async (writer, _, ct) =>
            {
                await system.WriteAsync(randoms[writer].Next(1, rows + 1), 1, ct);
                return 0;
            },
            (_, _, start, end, _) =>
            {
                var dead = Volatile.Read(ref deadAt);
                if (dead != 0 && start >= dead)
                    firstWriteAfterDeath.TrySetResult(end);
            },
            cancellationToken);
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1000 + Random.Shared.Next(1000)), cancellationToken);
            var before = load.Successes;
            var killedAt = Stopwatch.GetTimestamp();
            await cluster.Primary.StopAsync(immediate: true, cancellationToken);
            var dead = Stopwatch.GetTimestamp();
            Volatile.Write(ref deadAt, dead);
            long? firstWrite = null;
            try
            {
                firstWrite = await firstWriteAfterDeath.Task.WaitAsync(Limit, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Reported as a trial without a write within the limit.
            }

            return new TrialOutcome(
                firstWrite is { } end ? Stopwatch.GetElapsedTime(killedAt, end) : null,
                Stopwatch.GetElapsedTime(killedAt, dead),
                before,
                load.Errors,
                load.ErrorSamples);
        }
        finally
        {
            await load.StopAsync();
        }
    }
}

/// <summary>What one trial measured: null <see cref="TimeToFirstWrite"/> means no write succeeded within 30 s.</summary>
internal sealed record TrialOutcome(TimeSpan? TimeToFirstWrite, TimeSpan StopTook, long WritesBefore, long Errors, IReadOnlyList<string> ErrorSamples);
