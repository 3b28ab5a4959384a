using Microsoft.Extensions.Time.Testing;
using RoutingDataSource.Classification;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Tests.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Resilience;

/// <summary>
/// The transparent retry of safe operations, on a fake clock and a seeded jitter: it re-runs what is retryable until it
/// succeeds or <see cref="RoutingOptions.FailoverTimeout"/> is spent, and nothing else.
/// </summary>
public sealed class FailoverRetryTests : IAsyncDisposable
{
    private static readonly StatementRoute Read = new(StatementKind.Read, true, "read");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly PolicyFixtures _f = new(0, 1);
    private readonly RoutingMetrics _metrics;

    public FailoverRetryTests()
    {
        _metrics = new RoutingMetrics(() => ClusterSnapshot.Initial(_f.Backends));
    }

    private FailoverRetry Retry(TimeSpan budget, int seed = 7)
    {
        var random = new Random(seed);
        return new FailoverRetry(new RoutingOptions { FailoverTimeout = budget }, _time, _metrics, random.NextDouble);
    }

    private RetryableFailure Gone(StatementRoute route) => new(route, new IOException("connection reset"), _f.Backends[1], immediate: false);

    /// <summary>Advances the fake clock in small steps until <paramref name="task"/> ends (bounded: 10 minutes of fake time).</summary>
    private async Task<T> Drive<T>(ValueTask<T> task)
    {
        var pending = task.AsTask();
        for (var step = 0; step < 60_000 && !pending.IsCompleted; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(10));
            await Task.Yield();
            if (!pending.IsCompleted)
                await Task.WhenAny(pending, Task.Delay(1));
        }
        Assert.True(pending.IsCompleted, "the retry loop did not end within 10 minutes of fake time");
        return await pending;
    }

    [Fact]
    public async Task A_retryable_failure_is_run_again_until_it_succeeds_and_each_retry_is_counted()
    {
        var attempts = new List<long>();
        var result = await Drive(Retry(TimeSpan.FromSeconds(30)).RunAsync(Read, (route, _) =>
        {
            attempts.Add(_time.GetTimestamp());
            return attempts.Count < 4 ? throw Gone(route) : ValueTask.FromResult(42);
        }, CancellationToken.None));

        Assert.Equal(42, result);
        Assert.Equal(4, attempts.Count);
        Assert.Equal(3, _f.Backends[1].Retries);
        Assert.All(attempts.Zip(attempts.Skip(1)), pair => Assert.True(pair.Second > pair.First, "a retry waits for its backoff first"));
    }

    [Fact]
    public async Task The_next_attempt_runs_on_the_route_the_failure_gave()
    {
        var routes = new List<StatementRoute>();
        await Drive(Retry(TimeSpan.FromSeconds(30)).RunAsync(Read, (route, _) =>
        {
            routes.Add(route);
            return routes.Count == 1
                ? throw new RetryableFailure(route with { StandbyAllowed = false, Reason = "re-run on the primary" }, new IOException("reset"), _f.Backends[1], immediate: false)
                : ValueTask.FromResult(0);
        }, CancellationToken.None));

        Assert.Equal([true, false], routes.Select(r => r.StandbyAllowed));
        Assert.Equal("re-run on the primary", routes[1].Reason);
    }

    [Fact]
    public async Task When_the_failover_budget_is_spent_it_gives_up_with_the_last_cause()
    {
        var started = _time.GetUtcNow();
        var attempts = 0;
        var e = await Assert.ThrowsAsync<RoutingException>(() => Drive(Retry(TimeSpan.FromSeconds(5)).RunAsync<int>(Read, (route, _) =>
        {
            attempts++;
            throw Gone(route);
        }, CancellationToken.None)));

        Assert.Equal(RoutingFailure.RetriesExhausted, e.Failure);
        Assert.IsType<IOException>(e.InnerException);
        Assert.Equal("n1", e.BackendName);
        var spent = _time.GetUtcNow() - started;
        Assert.InRange(spent, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5) + TimeSpan.FromSeconds(1.1)); // at most one more backoff (<= 1 s)
        Assert.InRange(attempts, 6, 200);
    }

    [Fact]
    public async Task A_failure_that_is_not_retryable_passes_through_at_once()
    {
        var attempts = 0;
        var original = new InvalidOperationException("syntax error");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Drive(Retry(TimeSpan.FromSeconds(30)).RunAsync<int>(Read, (_, _) =>
        {
            attempts++;
            throw original;
        }, CancellationToken.None)));

        Assert.Same(original, e);
        Assert.Equal(1, attempts);
        Assert.Equal(0, _f.Backends[1].Retries);
    }

    [Fact]
    public async Task The_backoff_grows_is_capped_at_one_second_and_is_the_same_for_the_same_seed()
    {
        async Task<long[]> Delays(int seed)
        {
            var at = new List<long>();
            await Drive(Retry(TimeSpan.FromSeconds(60), seed).RunAsync(Read, (route, _) =>
            {
                at.Add(_time.GetTimestamp());
                return at.Count < 12 ? throw Gone(route) : ValueTask.FromResult(0);
            }, CancellationToken.None));
            return at.Zip(at.Skip(1), (a, b) => (b - a) * 1000 / _time.TimestampFrequency).ToArray(); // milliseconds
        }

        var first = await Delays(seed: 11);
        var again = await Delays(seed: 11);
        Assert.Equal(first, again);
        Assert.All(first, ms => Assert.InRange(ms, 0, 1_010)); // MaxDelay 1 s, plus one 10 ms step of the fake clock
        Assert.True(first.Skip(6).Average() > first.Take(3).Average(), $"the backoff grows: {string.Join(", ", first)}");
    }

    [Fact]
    public async Task The_callers_cancellation_stops_the_retries()
    {
        using var cts = new CancellationTokenSource();
        var attempts = 0;
        var run = Retry(TimeSpan.FromSeconds(60)).RunAsync<int>(Read, (route, _) =>
        {
            if (++attempts == 3)
                cts.Cancel();
            throw Gone(route);
        }, cts.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Drive(run));
        Assert.Equal(3, attempts);
    }

    public async ValueTask DisposeAsync()
    {
        _metrics.Dispose();
        await _f.DisposeAsync();
    }
}
