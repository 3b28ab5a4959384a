using System.Diagnostics;
using System.Net.Sockets;
using Npgsql;

namespace RoutingDataSource.Testing.Internal;

/// <summary>Bounded polling: the harness never sleeps a fixed time where a condition can be checked.</summary>
internal static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Checks <paramref name="condition"/> until it holds. Connection errors count as "not yet"
    /// (a server that is starting or switching roles refuses connections for a moment).
    /// After <paramref name="timeout"/>, throws a <see cref="TimeoutException"/> whose message is
    /// <paramref name="describeFailure"/> (expected to carry the relevant server logs) and the last error.
    /// </summary>
    public static async Task UntilAsync(
        Func<CancellationToken, Task<bool>> condition,
        TimeSpan timeout,
        Func<string> describeFailure,
        CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var clock = Stopwatch.StartNew();
        Exception? lastError = null;
        while (true)
        {
            try
            {
                if (await condition(deadline.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (Exception e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                // A probe cut short by the deadline says nothing about the condition; keep the error before it.
                lastError = e is OperationCanceledException ? lastError : e;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (clock.Elapsed >= timeout)
            {
                var last = lastError is null ? "" : $"\nLast error: {lastError.GetType().Name}: {lastError.Message}";
                throw new TimeoutException($"{describeFailure()}{last}", lastError);
            }

            try
            {
                await Task.Delay(Interval, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The deadline passed during the pause: one last check happens above.
            }
        }
    }

    // Server-side errors are transient only when they mean "not now": starting up, shutting
    // down, too many connections, connection failure. A mistake in the SQL fails at once.
    private static bool IsTransient(Exception e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("57P", StringComparison.Ordinal)
            || p.SqlState.StartsWith("08", StringComparison.Ordinal)
            || p.SqlState.StartsWith("53", StringComparison.Ordinal),
        NpgsqlException or SocketException or TimeoutException or OperationCanceledException or IOException or HttpRequestException => true,
        _ => false,
    };
}
