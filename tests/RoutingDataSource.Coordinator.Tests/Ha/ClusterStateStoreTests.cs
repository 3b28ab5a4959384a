using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Ha;

/// <summary>The durable state on a real single-member etcd: compare-and-swap, fenced by the leader key.</summary>
public sealed class ClusterStateStoreTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 4, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task The_state_round_trips_and_an_interrupted_failover_can_be_resumed_and_finished()
    {
        await WithLeaderAsync(async (leader, ct) =>
        {
            var empty = await leader.Store.ReadAsync(ct);
            Assert.Null(empty.Primary.Value);
            Assert.Null(empty.Operation.Value);

            var token = leader.Election.Term!.FencingToken;
            var operation = new OperationRecord(OperationKind.Failover, OperationStep.Promoting, "n0", "n1", 1, Start, leader.Name, token);
            var next = empty
                .WithIdentity(new ClusterIdentity("7311111111111111111"))
                .WithPrimary(new PrimaryRecord("n0", 1))
                .WithSynchronous(new SynchronousSet("ANY 1 (n1, n2)", ["n1", "n2"]))
                .WithDetached(new DetachedMembers(["n3"]))
                .WithOperation(operation);
            var written = await leader.Store.WriteAsync(leader.Election, empty, next, ct);
            Assert.Equal(GuardedOutcome.Applied, written.Outcome);

            // What a new leader reads after a crash midway: where the last one stopped.
            var read = await leader.Store.ReadAsync(ct);
            Assert.Equal("7311111111111111111", read.Identity.Value!.SystemIdentifier);
            Assert.Equal(new PrimaryRecord("n0", 1), read.Primary.Value);
            Assert.Equal(["n1", "n2"], read.Synchronous.Value!.Members);
            Assert.Equal("ANY 1 (n1, n2)", read.Synchronous.Value.StandbyNames);
            Assert.Equal(["n3"], read.Detached.Value!.Names);
            Assert.Equal(operation, read.Operation.Value);
            Assert.Equal(written.State!.Operation.ModRevision, read.Operation.ModRevision);

            var resumed = await leader.Store.WriteAsync(leader.Election, read, read.WithOperation(read.Operation.Value!.At(OperationStep.Repointing, leader.Name, token)), ct);
            Assert.Equal(GuardedOutcome.Applied, resumed.Outcome);
            var finished = await leader.Store.WriteAsync(
                leader.Election, resumed.State!, resumed.State!.Finish(new FailoverHistoryEntry(OperationKind.Failover, "n0", "n1", 2, Start, Start.AddSeconds(2), leader.Name)), ct);
            Assert.Equal(GuardedOutcome.Applied, finished.Outcome);

            var after = await leader.Store.ReadAsync(ct);
            Assert.Null(after.Operation.Value);
            Assert.Equal(0, after.Operation.ModRevision);
            Assert.Equal(new PrimaryRecord("n1", 2), after.Primary.Value);
            Assert.Equal("n1", Assert.Single(after.History.Value!.Entries).To);
            Assert.Equal(read.Identity.ModRevision, after.Identity.ModRevision);
        });
    }

    [Fact]
    public async Task A_write_from_a_stale_snapshot_conflicts_and_changes_nothing()
    {
        await WithLeaderAsync(async (leader, ct) =>
        {
            var basis = await leader.Store.ReadAsync(ct);
            var first = await leader.Store.WriteAsync(leader.Election, basis, basis.WithPrimary(new PrimaryRecord("n0", 1)), ct);
            Assert.Equal(GuardedOutcome.Applied, first.Outcome);

            // The same old snapshot again: the primary document has moved on since.
            var stale = await leader.Store.WriteAsync(leader.Election, basis, basis.WithPrimary(new PrimaryRecord("n2", 5)).WithDetached(new DetachedMembers(["n1"])), ct);

            Assert.Equal(GuardedOutcome.Conflict, stale.Outcome);
            Assert.True(leader.IsLeader, "a state conflict is not a lost leadership");
            var read = await leader.Store.ReadAsync(ct);
            Assert.Equal(new PrimaryRecord("n0", 1), read.Primary.Value);
            Assert.Null(read.Detached.Value);
            var fresh = await leader.Store.WriteAsync(leader.Election, read, read.WithPrimary(new PrimaryRecord("n2", 5)), ct);
            Assert.Equal(GuardedOutcome.Applied, fresh.Outcome);
        });
    }

    [Fact]
    public async Task A_coordinator_that_does_not_lead_cannot_write_the_state()
    {
        await WithLeaderAsync(async (leader, ct) =>
        {
            await using var follower = new EtcdContender("c2", Endpoints!, Prefix!, Ttl, Logging!).Start();
            await LeaderElectionTests.EventuallyAsync(() => follower.Election.Leader == leader.Name, "c2 sees c1 lead", ct);
            var basis = await follower.Store.ReadAsync(ct);

            var result = await follower.Store.WriteAsync(follower.Election, basis, basis.WithPrimary(new PrimaryRecord("n1", 2)), ct);

            Assert.Equal(GuardedOutcome.NotLeader, result.Outcome);
            Assert.Null((await leader.Store.ReadAsync(ct)).Primary.Value);
        });
    }

    [Fact]
    public void The_failover_history_keeps_the_newest_entries_only()
    {
        var history = FailoverHistory.Empty;
        for (var i = 0; i < FailoverHistory.Limit + 8; i++)
            history = history.Append(new FailoverHistoryEntry(OperationKind.Failover, "a", $"n{i}", i + 2, Start, Start, "c1"));

        Assert.Equal(FailoverHistory.Limit, history.Entries.Count);
        Assert.Equal("n8", history.Entries[0].To);
        Assert.Equal($"n{FailoverHistory.Limit + 7}", history.Entries[^1].To);
    }

    private IReadOnlyList<string>? Endpoints { get; set; }

    private string? Prefix { get; set; }

    private TestLogging? Logging { get; set; }

    private async Task WithLeaderAsync(Func<EtcdContender, CancellationToken, Task> body)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Logging = new TestLogging(output);
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, timeout.Token);
        Endpoints = etcd.Endpoints;
        Prefix = "/test/" + Guid.NewGuid().ToString("N")[..8];
        await using var leader = new EtcdContender("c1", etcd.Endpoints, Prefix, Ttl, Logging).Start();
        try
        {
            await LeaderElectionTests.EventuallyAsync(() => leader.IsLeader, "c1 leads", timeout.Token);
            await body(leader, timeout.Token);
        }
        catch
        {
            output.WriteLine(etcd.DumpLogs(30));
            throw;
        }
    }
}
