using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Benchmarks;

/// <summary>
/// The hang guard on its own: an async method awaiting an operation directly, and through its backend's registry of
/// waiting operations (<see cref="InFlightStatements.FinishesAsync"/>), as a routed statement awaits the driver. The
/// operation completes on the same thread, so the figures hold the whole wait: claim, await, resume, free. The guard
/// must allocate nothing (both rows allocate the same: the operation's own task source).
/// </summary>
[MemoryDiagnoser]
public class HangGuardBenchmarks
{
    private readonly InFlightStatements _inFlight = new();

    [Benchmark(Baseline = true)]
    public bool AwaitDirectly()
    {
        var operation = new TaskCompletionSource();
        var wait = DirectlyAsync(operation.Task);
        operation.SetResult();
        return wait.Result;
    }

    [Benchmark]
    public bool AwaitThroughTheGuard()
    {
        var operation = new TaskCompletionSource();
        var wait = GuardedAsync(_inFlight, operation.Task);
        operation.SetResult();
        return wait.Result;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> DirectlyAsync(Task operation)
    {
        await operation.ConfigureAwait(false);
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> GuardedAsync(InFlightStatements inFlight, Task operation)
        => await inFlight.FinishesAsync(operation, inFlight.Epoch).ConfigureAwait(false);
}
