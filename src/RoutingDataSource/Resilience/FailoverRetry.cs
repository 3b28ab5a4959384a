using Polly;
using Polly.Retry;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Routing;

namespace RoutingDataSource.Resilience;

/// <summary>
/// The transparent retry of safe operations during a failover: a Polly retry pipeline (exponential backoff with
/// jitter) whose predicate stops at <see cref="RoutingOptions.FailoverTimeout"/>. Entered only after a first
/// failure, so the normal path never pays for it.
/// </summary>
internal sealed class FailoverRetry
{
    private static readonly ResiliencePropertyKey<Deadline> DeadlineKey = new("RoutingDataSource.Deadline");

    private readonly ResiliencePipeline _pipeline;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;

    private readonly RoutingMetrics _metrics;

    /// <param name="options">Its <see cref="RoutingOptions.FailoverTimeout"/> bounds every retried operation.</param>
    /// <param name="time">The clock of the deadline and of the backoff delays.</param>
    /// <param name="metrics">Where retries and their outcomes are counted.</param>
    /// <param name="randomizer">The jitter's source of numbers in [0, 1); Polly's shared one when null (tests pass a seeded one).</param>
    public FailoverRetry(RoutingOptions options, TimeProvider time, RoutingMetrics metrics, Func<double>? randomizer = null)
    {
        var retry = new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is RetryableFailure && !Expired(args.Context)),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromSeconds(1),
            MaxRetryAttempts = int.MaxValue,
            OnRetry = args =>
            {
                Count((args.Outcome.Exception as RetryableFailure)?.Backend);
                return default;
            },
        };
        if (randomizer is not null)
            retry.Randomizer = randomizer;
        _time = time;
        _metrics = metrics;
        _budget = options.FailoverTimeout;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(retry).Build();
    }

    /// <summary>Counts one retry against the backend that failed (status and metrics).</summary>
    public void Count(Topology.Backend? backend)
    {
        backend?.CountRetry();
        _metrics.Retry(backend);
    }

    private static bool Expired(ResilienceContext context)
        => context.Properties.TryGetValue(DeadlineKey, out var deadline) && deadline.HasPassed;

    /// <summary>
    /// Runs <paramref name="attempt"/> with retries until it succeeds, fails with something not retryable, or the
    /// failover budget is spent; then throws the last failure's cause as a <see cref="RoutingException"/>.
    /// </summary>
    public async ValueTask<T> RunAsync<T>(StatementRoute route, Func<StatementRoute, CancellationToken, ValueTask<T>> attempt, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(DeadlineKey, Deadline.After(_budget, _time));
        var current = route;
        try
        {
            var result = await _pipeline.ExecuteAsync(async ctx =>
            {
                try
                {
                    return await attempt(current, ctx.CancellationToken).ConfigureAwait(false);
                }
                catch (RetryableFailure f)
                {
                    current = f.Route;
                    throw;
                }
            }, context).ConfigureAwait(false);
            _metrics.RetryOutcome(succeeded: true);
            return result;
        }
        catch (RetryableFailure last)
        {
            _metrics.RetryOutcome(succeeded: false);
            throw new RoutingException(RoutingFailure.RetriesExhausted,
                $"Gave up after retrying for {_budget.TotalSeconds:0.#} s (RoutingOptions.FailoverTimeout): {last.InnerException?.Message}. Nothing was left half-done; retry later.",
                last.InnerException, last.Backend?.Name);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
