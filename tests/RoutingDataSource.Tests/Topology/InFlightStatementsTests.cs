using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Topology;

/// <summary>
/// The registry of operations waiting on a backend, on its own: the "operation" is a task this test completes, the
/// monitor's side is <see cref="InFlightStatements.AbandonAll"/>. The real-server behaviour is in Faults/InFlightAbandonTests.
/// </summary>
public sealed class InFlightStatementsTests
{
    private static TaskCompletionSource NewOperation() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Fact]
    public async Task A_wait_ends_with_its_operation_and_frees_its_slot()
    {
        var inFlight = new InFlightStatements();
        var op = NewOperation();
        var wait = inFlight.FinishesAsync(op.Task, inFlight.Epoch).AsTask();
        await WaitUntil(() => inFlight.Waiting == 1);
        op.SetResult();
        Assert.True(await wait);
        Assert.Equal(0, inFlight.Waiting);
    }

    [Fact]
    public async Task A_finished_operation_needs_no_slot()
    {
        var inFlight = new InFlightStatements();
        Assert.True(await inFlight.FinishesAsync(Task.CompletedTask, inFlight.Epoch));
        Assert.Equal(0, inFlight.Waiting);
    }

    [Fact]
    public async Task Taking_the_backend_out_of_service_abandons_every_wait_in_progress()
    {
        var inFlight = new InFlightStatements();
        var ops = Enumerable.Range(0, 10).Select(_ => NewOperation()).ToArray();
        var waits = ops.Select(o => inFlight.FinishesAsync(o.Task, inFlight.Epoch).AsTask()).ToArray();
        await WaitUntil(() => inFlight.Waiting == ops.Length);

        Assert.Equal(ops.Length, inFlight.AbandonAll());

        Assert.All(await Task.WhenAll(waits), Assert.False);
        Assert.Equal(0, inFlight.Waiting);
        foreach (var o in ops)
            o.SetResult(); // the abandoned operations end later; their slots are free again only then
        await WaitUntil(() => Reusable(inFlight));
    }

    [Fact]
    public async Task An_operation_sent_before_the_backend_was_taken_out_of_service_is_abandoned_even_if_its_wait_starts_after()
    {
        // Sent, then the monitor takes the backend out of service, then the caller starts waiting: with the abort read
        // at the start of the wait (as the cancellation-token guard did) it would wait on the hung server for good.
        var inFlight = new InFlightStatements();
        var sentIn = inFlight.Epoch;
        var op = NewOperation();
        Assert.Equal(0, inFlight.AbandonAll());

        Assert.False(await inFlight.FinishesAsync(op.Task, sentIn).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        op.SetResult();
    }

    [Fact]
    public async Task An_operation_sent_after_the_backend_was_taken_out_of_service_is_not_abandoned_by_it()
    {
        var inFlight = new InFlightStatements();
        inFlight.AbandonAll();
        var op = NewOperation();
        var wait = inFlight.FinishesAsync(op.Task, inFlight.Epoch).AsTask();
        await WaitUntil(() => inFlight.Waiting == 1);
        op.SetResult();
        Assert.True(await wait);
    }

    [Fact]
    public async Task A_wait_given_up_by_its_token_is_abandoned_alone()
    {
        var inFlight = new InFlightStatements();
        var mine = NewOperation();
        var other = NewOperation();
        using var giveUp = new CancellationTokenSource();
        var myWait = inFlight.FinishesAsync(mine.Task, inFlight.Epoch, giveUp.Token).AsTask();
        var otherWait = inFlight.FinishesAsync(other.Task, inFlight.Epoch).AsTask();
        await WaitUntil(() => inFlight.Waiting == 2);

        await giveUp.CancelAsync();

        Assert.False(await myWait);
        Assert.Equal(1, inFlight.Waiting);
        other.SetResult();
        Assert.True(await otherWait);
        mine.SetResult();
    }

    [Fact]
    public async Task More_waits_than_slots_grow_the_registry_and_every_one_stays_abandonable()
    {
        var inFlight = new InFlightStatements();
        var count = inFlight.Capacity * 3;
        var ops = Enumerable.Range(0, count).Select(_ => NewOperation()).ToArray();
        var waits = ops.Select(o => inFlight.FinishesAsync(o.Task, inFlight.Epoch).AsTask()).ToArray();
        await WaitUntil(() => inFlight.Waiting == count);

        Assert.Equal(count, inFlight.AbandonAll());
        Assert.All(await Task.WhenAll(waits), Assert.False);
        foreach (var o in ops)
            o.SetResult();
    }

    [Fact]
    public async Task Waits_finishing_while_the_backend_is_taken_out_of_service_each_end_exactly_once()
    {
        // Operations ending on other threads while the monitor abandons: each wait ends once, as finished or as
        // abandoned, and every slot is free again afterwards.
        var inFlight = new InFlightStatements();
        for (var round = 0; round < 50; round++)
        {
            var ops = Enumerable.Range(0, 32).Select(_ => NewOperation()).ToArray();
            var waits = ops.Select(o => inFlight.FinishesAsync(o.Task, inFlight.Epoch).AsTask()).ToArray();
            var finishing = Task.Run(() =>
            {
                foreach (var o in ops)
                    o.SetResult();
            });
            var abandoned = inFlight.AbandonAll();
            await finishing;
            var results = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(results.Count(r => !r) <= abandoned, $"{results.Count(r => !r)} waits ended abandoned, {abandoned} abandoned");
            await WaitUntil(() => Reusable(inFlight));
        }
    }

    [Fact]
    public void A_wait_allocates_nothing()
    {
        // The operations complete on this thread, inline, so that this thread's allocation counter sees the whole wait:
        // claiming the slot, awaiting it, the operation's completion resuming the awaiter, freeing the slot.
        // (A task runs its continuations inline only where no synchronization context is set: xunit sets one.)
        var inFlight = new InFlightStatements();
        var ops = Enumerable.Range(0, 110).Select(_ => new TaskCompletionSource()).ToArray();
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        long allocated;
        try
        {
            for (var i = 0; i < 10; i++)
                Assert.True(WaitAndFinish(inFlight, ops[i]));
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 10; i < ops.Length; i++)
                WaitAndFinish(inFlight, ops[i]);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
        Assert.Equal(0, allocated);
    }

    private static bool WaitAndFinish(InFlightStatements inFlight, TaskCompletionSource op)
    {
        var wait = AwaitFinishedAsync(inFlight, op.Task);
        op.SetResult();
        return wait.IsCompletedSuccessfully && wait.Result;
    }

    // Awaited as the statement path awaits it: from a pooled async method, with ConfigureAwait(false).
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<bool> AwaitFinishedAsync(InFlightStatements inFlight, Task operation)
        => await inFlight.FinishesAsync(operation, inFlight.Epoch).ConfigureAwait(false);

    // Every slot can be claimed again: claim as many waits as there are slots and finish them.
    private static bool Reusable(InFlightStatements inFlight)
    {
        var capacity = inFlight.Capacity;
        var ops = Enumerable.Range(0, capacity).Select(_ => NewOperation()).ToArray();
        var waits = ops.Select(o => inFlight.FinishesAsync(o.Task, inFlight.Epoch).AsTask()).ToArray();
        var grew = inFlight.Capacity > capacity;
        foreach (var o in ops)
            o.SetResult();
        Task.WaitAll(waits);
        return !grew;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 500; i++)
        {
            if (condition())
                return;
            await Task.Delay(10);
        }
        throw new TimeoutException("condition not met in 5 s");
    }
}
