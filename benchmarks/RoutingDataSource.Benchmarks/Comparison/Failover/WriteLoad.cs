using System.Diagnostics;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// The write load of the failover and switchover parts: <see cref="Writers"/> writers in a closed loop, each running
/// its next write as soon as the previous one ended. A write that succeeded is reported to <c>acknowledged</c> with its
/// start and end (<see cref="Stopwatch"/> timestamps) and what it returned; a failed write is counted (a few distinct
/// messages kept as samples) and the writer tries again after 10 ms.
/// </summary>
internal sealed class WriteLoad
{
    public const int Writers = 4;

    private readonly CancellationTokenSource _stop;
    private readonly Task[] _writers;
    private long _successes;
    private long _errors;
    private readonly List<string> _errorSamples = [];

    /// <param name="write">Runs write number <c>sequence</c> of writer <c>writer</c>; what it returns goes to <paramref name="acknowledged"/>.</param>
    /// <param name="acknowledged">Called with (writer, sequence, start, end, result) after each write that succeeded.</param>
    /// <param name="cancellationToken">Stops the writers as <see cref="StopAsync"/> does.</param>
    public WriteLoad(Func<int, long, CancellationToken, Task<int>> write, Action<int, long, long, long, int> acknowledged, CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _stop.Token;
        _writers = Enumerable.Range(0, Writers).Select(i => Task.Run(() => WriterAsync(i, write, acknowledged, token), CancellationToken.None)).ToArray();
    }

    public long Successes => Interlocked.Read(ref _successes);

    public long Errors => Interlocked.Read(ref _errors);

    public IReadOnlyList<string> ErrorSamples
    {
        get
        {
            lock (_errorSamples)
            {
                return _errorSamples.ToArray();
            }
        }
    }

    /// <summary>Stops the writers and waits (at most 35 s) until every one has returned.</summary>
    public async Task StopAsync()
    {
        try
        {
            await _stop.CancelAsync();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is ObjectDisposedException))
        {
            // Npgsql registers a cancellation callback per command; one whose connector the failover already broke
            // and disposed throws from inside Cancel. The writers stop all the same.
        }

        await Task.WhenAll(_writers).WaitAsync(TimeSpan.FromSeconds(35), CancellationToken.None);
        _stop.Dispose();
    }

    private async Task WriterAsync(int writer, Func<int, long, CancellationToken, Task<int>> write, Action<int, long, long, long, int> acknowledged, CancellationToken stop)
    {
        for (long sequence = 0; !stop.IsCancellationRequested; sequence++)
        {
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                var result = await write(writer, sequence, stop);
                var t1 = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref _successes);
                acknowledged(writer, sequence, t0, t1, result);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _errors);
                lock (_errorSamples)
                {
                    var text = $"{e.GetType().Name}: {e.Message}";
                    if (_errorSamples.Count < 4 && !_errorSamples.Contains(text))
                        _errorSamples.Add(text);
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
}
