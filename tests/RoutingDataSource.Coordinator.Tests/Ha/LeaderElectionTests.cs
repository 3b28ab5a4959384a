using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Ha;

/// <summary>Leader election against a real 3-member etcd (LocalEtcdCluster), never a mock.</summary>
public sealed class LeaderElectionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task Of_three_contenders_exactly_one_leads_and_all_of_them_agree_who()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = Contender("c1", etcd.Endpoints, logging).Start();
            await using var c2 = Contender("c2", etcd.Endpoints, logging).Start();
            await using var c3 = Contender("c3", etcd.Endpoints, logging).Start();
            EtcdContender[] all = [c1, c2, c3];

            await EventuallyAsync(() => all.Any(c => c.IsLeader) && all.All(c => c.Election.Leader is not null), "someone leads", ct);
            // Watch for two seconds (several renewals): never two leaders, always the same one.
            var leader = all.Single(c => c.IsLeader);
            for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(2); await Task.Delay(20, ct))
            {
                Assert.True(all.Count(c => c.IsLeader) <= 1, "two coordinators lead at once");
                Assert.DoesNotContain(all, c => c != leader && c.IsLeader);
            }

            Assert.True(leader.IsLeader);
            Assert.All(all, c => Assert.Equal(leader.Name, c.Election.Leader));
            var view = await new CoordinatorRegistry(c1.Connection, c1.Keys).ReadAsync(ct);
            Assert.Equal(leader.Name, view.Leader);
            Assert.Equal(["c1", "c2", "c3"], view.Coordinators.Select(c => c.Name));
            Assert.Equal([leader.Name], view.Coordinators.Where(c => c.Leader).Select(c => c.Name));
            Assert.All(view.Coordinators, c => Assert.NotNull(c.Http));
        });
    }

    [Fact]
    public async Task When_the_leader_dies_another_leads_within_the_lease_ttl_plus_two_seconds_with_a_new_fencing_token()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = await LeaderAsync("c1", etcd.Endpoints, logging, ct);
            var firstToken = c1.Election.Term!.FencingToken;
            await using var c2 = await FollowerAsync("c2", c1, etcd.Endpoints, logging, ct);
            await using var c3 = await FollowerAsync("c3", c1, etcd.Endpoints, logging, ct);

            var clock = Stopwatch.StartNew();
            await c1.CrashAsync();
            await EventuallyAsync(() => c2.IsLeader || c3.IsLeader, "another leads", ct);
            output.WriteLine($"new leader after {clock.ElapsedMilliseconds} ms");

            Assert.True(clock.Elapsed <= Ttl + TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
            Assert.False(c2.IsLeader && c3.IsLeader);
            var next = c2.IsLeader ? c2 : c3;
            Assert.True(next.Election.Term!.FencingToken > firstToken);
        });
    }

    [Fact]
    public async Task A_clean_resignation_hands_over_at_once()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = await LeaderAsync("c1", etcd.Endpoints, logging, ct);
            await using var c2 = await FollowerAsync("c2", c1, etcd.Endpoints, logging, ct);

            var clock = Stopwatch.StartNew();
            await c1.CrashAsync();
            await c1.Election.ResignAsync(ct);
            await EventuallyAsync(() => c2.IsLeader, "c2 leads", ct);

            Assert.True(clock.Elapsed < Ttl, $"took {clock.Elapsed}: the resignation did not free the key");
            var view = await new CoordinatorRegistry(c2.Connection, c2.Keys).ReadAsync(ct);
            Assert.Equal(["c2"], view.Coordinators.Select(c => c.Name));
        });
    }

    [Fact]
    public async Task A_resignation_after_the_lease_expired_is_quiet_and_hands_over()
    {
        // A coordinator starved long enough to lose its lease (seen under load) resigns when it stops: etcd answers
        // "lease not found", which is what a resignation wants; stopping must not fail on it.
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = await LeaderAsync("c1", etcd.Endpoints, logging, ct);
            await using var c2 = await FollowerAsync("c2", c1, etcd.Endpoints, logging, ct);
            var lease = c1.Election.LeaseId;
            Assert.NotEqual(0, lease);

            await c1.CrashAsync();
            await c2.Connection.RevokeLeaseAsync(lease, ct); // as if it had expired
            await c1.Election.ResignAsync(ct);
            await EventuallyAsync(() => c2.IsLeader, "c2 leads", ct);
        });
    }

    [Fact]
    public async Task A_deposed_leaders_late_guarded_write_fails_in_etcd_and_ends_its_term()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            var pausedClock = new PausableTime();
            await using var old = Contender("c1", etcd.Endpoints, logging, pausedClock);
            await old.StepAsync(ct);
            Assert.True(old.IsLeader);
            var oldTerm = old.Election.Term!;

            // c1 is paused right after it checked it leads: its clock stands still and it renews nothing.
            pausedClock.Freeze();
            await using var next = Contender("c2", etcd.Endpoints, logging).Start();
            await EventuallyAsync(() => next.IsLeader, "c2 leads once c1's lease has expired", ct);
            Assert.True(old.IsLeader, "the paused leader still believes it leads: only etcd can stop its late write");

            var key = ByteString.CopyFromUtf8(old.Keys.StateDocument("late"));
            var late = await old.Election.GuardedMutationAsync([], [new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8("c1") } }], ct);
            var fresh = await next.Election.GuardedMutationAsync([], [new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(old.Keys.StateDocument("fresh")), Value = ByteString.CopyFromUtf8("c2") } }], ct);

            Assert.Equal(GuardedOutcome.NotLeader, late.Outcome);
            Assert.NotNull(late.Response);
            Assert.False(old.IsLeader);
            Assert.True(oldTerm.Ending.IsCancellationRequested);
            Assert.Equal(GuardedOutcome.Applied, fresh.Outcome);
            Assert.Empty((await old.Connection.GetAsync(old.Keys.StateDocument("late"), prefix: false, ct)).Kvs);
            Assert.True(next.Election.Term!.FencingToken > oldTerm.FencingToken);
        });
    }

    [Fact]
    public async Task A_follower_sends_no_guarded_write_at_all()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = await LeaderAsync("c1", etcd.Endpoints, logging, ct);
            await using var c2 = await FollowerAsync("c2", c1, etcd.Endpoints, logging, ct);

            var result = await c2.Election.GuardedMutationAsync([], [new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(c2.Keys.StateDocument("x")), Value = ByteString.Empty } }], ct);

            Assert.Equal(GuardedOutcome.NotLeader, result.Outcome);
            Assert.Null(result.Response);
        });
    }

    [Fact]
    public async Task A_leader_cut_off_from_etcd_stops_leading_before_its_lease_can_expire_and_before_another_leads()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var route = etcd.OpenRoute();
            await using var c1 = await LeaderAsync("c1", route.Endpoints, logging, ct);
            await using var c2 = await FollowerAsync("c2", c1, etcd.Endpoints, logging, ct);
            await using var c3 = await FollowerAsync("c3", c1, etcd.Endpoints, logging, ct);
            var term = c1.Election.Term!;

            // c1 can still do everything else (reach PostgreSQL, say), but no longer etcd: its last renewal was sent before now.
            var cutAt = TimeProvider.System.GetTimestamp();
            var clock = Stopwatch.StartNew();
            route.Blackhole();
            TimeSpan? taken = null;
            while (taken is null && clock.Elapsed < Ttl + TimeSpan.FromSeconds(5))
            {
                var oldLeads = c1.IsLeader;
                var newLeads = c2.IsLeader || c3.IsLeader;
                Assert.False(oldLeads && newLeads, $"two leaders at {clock.ElapsedMilliseconds} ms");
                if (newLeads)
                    taken = clock.Elapsed;
                await Task.Delay(10, ct);
            }

            Assert.NotNull(taken);
            var next = (c2.IsLeader ? c2 : c3).Election.Term!;
            var actedUntil = TimeProvider.System.GetElapsedTime(cutAt, term.DeadlineTimestamp);
            output.WriteLine($"c1 could act until {actedUntil.TotalMilliseconds:0} ms after the cut, another led after {taken.Value.TotalMilliseconds:0} ms");
            // Shown by the terms' own monotonic timestamps, not by sampling (which a busy machine delays).
            Assert.True(term.Ending.IsCancellationRequested, "the term's Ending token tells running steps to stop");
            Assert.False(c1.IsLeader);
            Assert.True(actedUntil <= Ttl - LeaseDeadline.SafetyMargin(Ttl), $"c1 could act {actedUntil} after its last possible renewal: not a margin before the lease TTL {Ttl}");
            Assert.True(next.StartedTimestamp > term.DeadlineTimestamp, "the next leader began before c1 had stopped");
            Assert.True(taken <= Ttl + TimeSpan.FromSeconds(2), $"the takeover took {taken}");
        });
    }

    [Fact]
    public async Task Without_an_etcd_quorum_nobody_leads_and_with_the_quorum_back_one_does()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var c1 = Contender("c1", etcd.Endpoints, logging).Start();
            await using var c2 = Contender("c2", etcd.Endpoints, logging).Start();
            await EventuallyAsync(() => c1.IsLeader || c2.IsLeader, "someone leads", ct);
            var term = (c1.IsLeader ? c1 : c2).Election.Term!;

            await etcd.Member("e1").StopAsync(ct);
            await etcd.Member("e2").KillAsync(ct);
            // Any renewal that still succeeded was sent before now.
            var quorumLostAt = TimeProvider.System.GetTimestamp();
            await EventuallyAsync(() => !c1.IsLeader && !c2.IsLeader, "the leader stops leading", ct);
            var actedFor = TimeProvider.System.GetElapsedTime(quorumLostAt, term.DeadlineTimestamp);
            Assert.True(actedFor <= Ttl - LeaseDeadline.SafetyMargin(Ttl), $"the leader could act {actedFor} without a quorum");
            for (var quiet = Stopwatch.StartNew(); quiet.Elapsed < Ttl + TimeSpan.FromSeconds(1); await Task.Delay(20, ct))
                Assert.False(c1.IsLeader || c2.IsLeader, "someone leads without a quorum");

            await etcd.Member("e1").StartAsync(ct);
            await EventuallyAsync(() => c1.IsLeader ^ c2.IsLeader, "one leads again", ct);
        }, seconds: 90);
    }

    [Fact]
    public async Task A_second_coordinator_with_a_taken_name_neither_registers_nor_leads()
    {
        await WithEtcdAsync(async (etcd, logging, ct) =>
        {
            await using var first = await LeaderAsync("c1", etcd.Endpoints, logging, ct);
            await using var second = Contender("c1", etcd.Endpoints, logging);

            await second.StepAsync(ct);
            await first.CrashAsync();
            await first.Election.ResignAsync(ct);

            Assert.False(second.IsLeader);
            Assert.Contains(logging.Lines, l => l.Contains("names must be unique", StringComparison.Ordinal));
            // Once the first is gone, the name is free.
            await second.StepAsync(ct);
            Assert.True(second.IsLeader);
        });
    }

    /// <summary>A contender started alone, once it leads.</summary>
    private Task<EtcdContender> LeaderAsync(string name, IEnumerable<string> endpoints, TestLogging logging, CancellationToken ct) =>
        StartedAsync(name, endpoints, logging, c => c.IsLeader, $"{name} leads", ct);

    /// <summary>A contender started while <paramref name="leader"/> leads, once it has seen that.</summary>
    private Task<EtcdContender> FollowerAsync(string name, EtcdContender leader, IEnumerable<string> endpoints, TestLogging logging, CancellationToken ct) =>
        StartedAsync(name, endpoints, logging, c => c.Election.Leader == leader.Name, $"{name} sees {leader.Name} lead", ct);

    private async Task<EtcdContender> StartedAsync(string name, IEnumerable<string> endpoints, TestLogging logging, Func<EtcdContender, bool> ready, string what, CancellationToken ct)
    {
        var contender = Contender(name, endpoints, logging).Start();
        try
        {
            await EventuallyAsync(() => ready(contender), what, ct);
            return contender;
        }
        catch
        {
            await contender.DisposeAsync();
            throw;
        }
    }

    private EtcdContender Contender(string name, IEnumerable<string> endpoints, TestLogging logging, TimeProvider? time = null) =>
        new(name, endpoints, _prefix, Ttl, logging, time);

    private readonly string _prefix = "/test/" + Guid.NewGuid().ToString("N")[..8];

    private async Task WithEtcdAsync(Func<LocalEtcdCluster, TestLogging, CancellationToken, Task> body, int seconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var logging = new TestLogging(output);
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3 }, timeout.Token);
        try
        {
            await body(etcd, logging, timeout.Token);
        }
        catch
        {
            output.WriteLine(etcd.DumpLogs(30));
            throw;
        }
    }

    internal static async Task EventuallyAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            if (cancellationToken.IsCancellationRequested)
                Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(10, CancellationToken.None);
        }
    }
}
