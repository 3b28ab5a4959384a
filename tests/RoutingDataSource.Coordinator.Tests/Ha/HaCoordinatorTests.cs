using System.Diagnostics;
using System.Net.Http.Json;
using Npgsql;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Ha;

[CollectionDefinition(Name)]
public sealed class HaCoordinatorsCollection : ICollectionFixture<EtcdFixture>
{
    public const string Name = "ha-coordinators";
}

/// <summary>One 3-member etcd for the HA coordinator tests; each test uses its own key prefix.</summary>
public sealed class EtcdFixture : IAsyncLifetime
{
    public LocalEtcdCluster Etcd { get; private set; } = null!;

    public async Task InitializeAsync() => Etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3 });

    public async Task DisposeAsync() => await Etcd.DisposeAsync();
}

/// <summary>
/// Three coordinators (in-process) on a 3-member etcd over a sync 1+2 cluster: exactly one of them acts, whatever
/// happens to the primary, to the leader, or to the leader's path to etcd.
/// </summary>
[Collection(HaCoordinatorsCollection.Name)]
public sealed class HaCoordinatorTests(EtcdFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task A_killed_leader_is_replaced_within_the_ttl_and_a_probe_round_changing_nothing_then_a_killed_primary_is_promoted_once()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd);
        var first = ha.LeaderName!;
        var primary = ha.Cluster.Primary;
        Assert.Equal(0, ha.PromoteRequests());

        // Every coordinator answers GET /cluster with the same leader and the three coordinators.
        foreach (var host in ha.Hosts.Values)
        {
            using var http = new HttpClient { BaseAddress = host.Address };
            var view = (await http.GetFromJsonAsync<ClusterView>("cluster", Http.Json.Options))!;
            Assert.Equal(first, view.Leader);
            Assert.Equal(["c1", "c2", "c3"], view.Coordinators!.Select(c => c.Name));
            Assert.Equal([first], view.Coordinators!.Where(c => c.Leader).Select(c => c.Name));
            Assert.Equal(primary.Name, view.Primary);
        }

        // A POST to a follower is carried out by the leader, and every coordinator takes the detached set from etcd.
        var follower = ha.Hosts.First(h => h.Key != first).Value;
        using (var http = new HttpClient { BaseAddress = follower.Address })
        {
            using var detach = await http.PostAsync("members/n2/detach", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.OK, detach.StatusCode);
            Assert.Equal(first, detach.Headers.GetValues("X-Routing-Leader").Single());
            await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.Coordinator.View.Find("n2")!.State == MemberState.Detached), Bound, "n2 detached on every coordinator");
            using var attach = await http.PostAsync("members/n2/attach", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.OK, attach.StatusCode);
            await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.Coordinator.View.Find("n2")!.State == MemberState.Up), Bound, "n2 attached on every coordinator");
        }

        // A follower's guard refuses any step, and says why.
        var refused = await Assert.ThrowsAsync<NotLeaderException>(async () =>
            await follower.Coordinator.Ha!.Guard.BeforeAsync(new Mutation(MutationKind.Promote, "n1"), CancellationToken.None));
        Assert.Contains($"leader: {first}", refused.Message, StringComparison.Ordinal);
        Assert.True(ha.Logging.Contains("Step Promote on n1 () not taken: this coordinator does not lead"));

        // (b) The leader dies: another leads within the lease TTL plus one probe round; nothing else changes.
        var clock = Stopwatch.StartNew();
        await ha.KillAsync(first);
        await ha.WaitForAsync(() => ha.Leader is not null, Bound, "another coordinator leads");
        var takeover = clock.Elapsed;
        output.WriteLine($"{ha.LeaderName} leads {takeover.TotalMilliseconds:0} ms after {first} died");
        Assert.True(takeover <= HaCoordinators.LeaseTtl + TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(2), $"took {takeover} (TTL {HaCoordinators.LeaseTtl} + a probe round, + 2 s for a loaded machine)");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(0, ha.PromoteRequests());
        Assert.False(await primary.IsInRecoveryAsync());
        Assert.All(ha.Cluster.Standbys, s => Assert.True(s.IsInRecoveryAsync().GetAwaiter().GetResult()));
        Assert.All(ha.Hosts.Values, h => Assert.Equal(primary.Name, h.PrimaryName));

        // (a) The primary dies: exactly one promotion, the data source writes again.
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var n in ha.Cluster.Nodes)
            builder.AddBackend(n.Name, n.ConnectionString, n == primary ? 0 : 1);
        builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        builder.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
        builder.Options.FailoverTimeout = TimeSpan.FromSeconds(30);
        await using var ds = builder.Build();
        await ds.RefreshStatusAsync();
        await WriteAsync(ds, 1);

        await primary.StopAsync(immediate: true);
        clock.Restart();
        await WriteAsync(ds, 2);
        output.WriteLine($"the data source wrote again {clock.ElapsedMilliseconds} ms after the primary stopped");
        var promoted = ds.GetStatus().PrimaryName!;
        Assert.NotEqual(primary.Name, promoted);
        var other = ha.Cluster.Standbys.Single(s => s.Name != promoted);
        await CoordinatedCluster.WaitForStreamingAsync(ha.Cluster.Node(promoted), other, Bound);
        await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.PrimaryName == promoted), Bound, "every coordinator sees the new primary");
        await Task.Delay(TimeSpan.FromSeconds(3)); // a late second promotion would show by now
        Assert.Equal(1, ha.PromoteRequests());
        await ha.WaitForAsync(() => ha.Leader?.Coordinator.Ha!.State is { Operation.Value: null, History.Value.Entries.Count: 1 }, Bound, "the failover finished in the durable state");
        var entry = ha.Leader!.Coordinator.Ha!.State!.History.Value!.Entries[0];
        Assert.Equal((primary.Name, promoted), (entry.From, entry.To));
        Assert.Equal(promoted, ha.Leader!.Coordinator.Ha!.State!.Primary.Value!.Name);

        // The operators' metrics, in Prometheus text, from the coordinator that promoted.
        using var metrics = new HttpClient { BaseAddress = ha.Leader!.Address };
        var text = await metrics.GetStringAsync("metrics");
        output.WriteLine(text);
        Assert.Contains($"coordinator_leader_changes_total{{coordinator_leads=\"true\",coordinator_name=\"{ha.LeaderName}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"coordinator_leader{{coordinator_name=\"{ha.LeaderName}\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains("coordinator_lease_renew_duration_seconds_count{", text, StringComparison.Ordinal);
        Assert.Contains($"coordinator_failovers_total{{coordinator_name=\"{ha.LeaderName}\",coordinator_operation=\"failover\",coordinator_trigger=\"automatic\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains("coordinator_promote_duration_seconds_bucket{", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_leader_cut_off_from_etcd_stops_acting_before_its_lease_expires_and_the_new_leader_promotes_once()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd);
        var old = ha.LeaderName!;
        var oldHost = ha.Hosts[old];
        var primary = ha.Cluster.Primary;

        // Cut off from etcd while it still reaches PostgreSQL, and the primary dies at the same moment: the old leader
        // finds it dead within its remaining term, yet must not promote.
        var clock = Stopwatch.StartNew();
        ha.Route(old).Blackhole();
        await primary.StopAsync(immediate: true);
        TimeSpan? stopped = null, taken = null;
        while (taken is null && clock.Elapsed < Bound)
        {
            var oldLeads = oldHost.Coordinator.Ha!.IsLeader;
            var newLeads = ha.Hosts.Where(h => h.Key != old).Any(h => h.Value.Coordinator.Ha!.IsLeader);
            Assert.False(oldLeads && newLeads, $"two leaders at {clock.ElapsedMilliseconds} ms");
            if (!oldLeads)
                stopped ??= clock.Elapsed;
            if (newLeads)
                taken = clock.Elapsed;
            await Task.Delay(10);
        }
        output.WriteLine($"{old} stopped acting after {stopped?.TotalMilliseconds:0} ms, another led after {taken?.TotalMilliseconds:0} ms");
        Assert.True(stopped < HaCoordinators.LeaseTtl, $"{old} acted {stopped} after it was cut off, past the lease TTL");
        Assert.True(stopped < taken);

        await ha.WaitForAsync(() => ha.Hosts.Where(h => h.Key != old).All(h => h.Value.PrimaryName is { } p && p != primary.Name), Bound, "the new leader promoted a standby");
        var promoted = ha.Hosts.First(h => h.Key != old).Value.PrimaryName!;
        var other = ha.Cluster.Standbys.Single(s => s.Name != promoted);
        await CoordinatedCluster.WaitForStreamingAsync(ha.Cluster.Node(promoted), other, Bound);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(1, ha.PromoteRequests());
        Assert.False(ha.Logging.Contains($"[{old}] Promoted"), $"{old} promoted while cut off");
        Assert.False(HaCoordinators.Api(oldHost).Ha!.Leads);
    }

    /// <summary>
    /// The issue's contract for a double fault: the primary and the leading coordinator die at the same moment; a
    /// standby is promoted within the lease TTL plus 3 s (the next leader waits out the dead one's lease, then needs
    /// its failure verdict and the promotion), exactly once. Asserted with 2 s more for a loaded 2-core machine, as
    /// the takeover bound above is; the measured time is printed.
    /// </summary>
    [Fact]
    public async Task The_primary_and_the_leader_killed_together_fail_over_within_the_ttl_plus_3_s_with_one_promotion()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd);
        var leader = ha.LeaderName!;
        var primary = ha.Cluster.Primary;
        Assert.Equal(0, ha.PromoteRequests());

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(primary.StopAsync(immediate: true), ha.KillAsync(leader));
        var killed = clock.Elapsed;
        LocalPgNode? promoted = null;
        while (promoted is null && clock.Elapsed < Bound)
        {
            foreach (var standby in ha.Cluster.Standbys)
            {
                if (await AnswersAsPrimaryAsync(standby))
                    promoted = standby;
            }

            if (promoted is null)
                await Task.Delay(20);
        }

        var failover = clock.Elapsed;
        var contract = HaCoordinators.LeaseTtl + TimeSpan.FromSeconds(3);
        output.WriteLine($"both killed within {killed.TotalMilliseconds:0} ms; {promoted?.Name ?? "nothing"} promoted {failover.TotalMilliseconds:0} ms after the kill (contract: TTL {HaCoordinators.LeaseTtl.TotalSeconds:0} s + 3 s = {contract.TotalMilliseconds:0} ms{(failover <= contract ? ", met" : ", MISSED: only the loaded-machine allowance held")})");
        Assert.NotNull(promoted);
        Assert.True(failover <= contract + TimeSpan.FromSeconds(2), $"took {failover} (contract TTL {HaCoordinators.LeaseTtl} + 3 s, + 2 s for a loaded machine)");
        Assert.NotEqual(leader, ha.LeaderName);

        var other = ha.Cluster.Standbys.Single(s => s != promoted);
        await CoordinatedCluster.WaitForStreamingAsync(promoted!, other, Bound);
        await ha.WaitForAsync(() => ha.Leader?.Coordinator.Ha!.State is { Operation.Value: null, History.Value.Entries.Count: 1 }, Bound, "the failover finished in the durable state");
        Assert.Equal(promoted!.Name, ha.Leader!.Coordinator.Ha!.State!.Primary.Value!.Name);
        await Task.Delay(TimeSpan.FromSeconds(3)); // a late second promotion would show by now
        Assert.Equal(1, ha.PromoteRequests());
    }

    private static async Task<bool> AnswersAsPrimaryAsync(LocalPgNode node)
    {
        try
        {
            return !await node.IsInRecoveryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_leader_that_crashed_after_pg_promote_before_repointing_has_its_failover_finished_by_the_next_leader()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd);
        var crashed = ha.LeaderName!;
        var primary = ha.Cluster.Primary;
        // The crash point: the first step after pg_promote (a slot for a follower on the new primary).
        ha.Hosts[crashed].Coordinator.Ha!.Guard.CrashBefore = m => m.Kind is MutationKind.CreateSlot or MutationKind.Repoint;

        await primary.StopAsync(immediate: true);
        await ha.WaitForAsync(() => ha.Logging.Contains($"[{crashed}] Test crash point reached"), Bound, $"{crashed} promotes and crashes");
        await ha.KillAsync(crashed);
        var promoted = ha.Cluster.Standbys.First(s => !s.IsInRecoveryAsync().GetAwaiter().GetResult());
        var other = ha.Cluster.Standbys.Single(s => s != promoted);

        await ha.WaitForAsync(() => ha.Leader is not null, Bound, "another coordinator leads");
        await CoordinatedCluster.WaitForStreamingAsync(promoted, other, Bound);
        await ha.WaitForAsync(() => ha.Leader?.Coordinator.Ha!.State is { Operation.Value: null, History.Value.Entries.Count: 1 }, Bound, "the next leader finished the failover");
        var state = ha.Leader!.Coordinator.Ha!.State!;
        Assert.Equal(promoted.Name, state.Primary.Value!.Name);
        Assert.Equal(promoted.Name, state.History.Value!.Entries[0].To);
        Assert.NotEqual(crashed, state.History.Value!.Entries[0].Leader);
        Assert.True(ha.Logging.Contains($"[{ha.LeaderName}] Durable state: resuming failover"), "the next leader did not resume the failover");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, ha.PromoteRequests());
        Assert.Equal(1L, await promoted.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{other.SlotName}'"));
    }

    [Fact]
    public async Task A_coordinator_started_during_an_outage_takes_the_last_primary_from_etcd_and_fails_over_by_itself()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd);
        var primary = ha.Cluster.Primary;
        await ha.WaitForAsync(() => ha.Leader?.Coordinator.Ha!.State?.Primary.Value?.Name == primary.Name, Bound, "the leader recorded the primary");
        foreach (var name in ha.Hosts.Keys.ToArray())
            await ha.StopAsync(name);

        // The primary dies while no coordinator runs; one starts and has never seen it.
        await primary.StopAsync(immediate: true);
        await ha.StartAsync("c4");
        await ha.WaitForAsync(() => ha.Hosts["c4"].PrimaryName is { } p && p != primary.Name, Bound, "c4 promoted a standby");
        Assert.True(ha.Logging.Contains($"[c4] Durable state: no primary seen yet: taking the last one recorded, {primary.Name}"));
        Assert.True(ha.Logging.Contains("[c4] Primary declared dead"), "not the normal verdict");
        var promoted = ha.Cluster.Node(ha.Hosts["c4"].PrimaryName!);
        await CoordinatedCluster.WaitForStreamingAsync(promoted, ha.Cluster.Standbys.Single(s => s != promoted), Bound);
        Assert.Equal(1, ha.PromoteRequests());
    }

    private static async Task WriteAsync(PgRoutingDataSource ds, long id)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var conn = await ds.OpenConnectionAsync();
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = $"INSERT INTO t VALUES ({id})";
                await cmd.ExecuteNonQueryAsync();
                return;
            }
            catch (Exception e) when ((e is RoutingException or NpgsqlException or OperationCanceledException) && clock.Elapsed < Bound)
            {
                await Task.Delay(100);
            }
        }
    }
}
