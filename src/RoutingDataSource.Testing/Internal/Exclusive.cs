namespace RoutingDataSource.Testing.Internal;

/// <summary>One lifecycle step of a server at a time (start, stop, freeze, thaw), however many callers ask.</summary>
internal static class Exclusive
{
    public static async Task RunAsync(this SemaphoreSlim gate, Func<Task> step, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await step().ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }
}
