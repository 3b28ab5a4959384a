using System.Diagnostics;
using System.Text.Json;
using RoutingDataSource.Coordinator.Tests.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>HA mode: the leader's orders carry its fencing token, its agent reports land in etcd, and a stale token is refused.</summary>
[Collection(HaCoordinatorsCollection.Name)]
public sealed class HaRejoinTests(EtcdFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_leader_rejoins_a_killed_old_primary_into_the_synchronous_set_records_it_in_etcd_and_older_tokens_are_refused()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd, agents: true);
        var old = ha.Cluster.Primary;
        var clock = Stopwatch.StartNew();
        await old.StopAsync(immediate: true);
        await ha.WaitForAsync(() => ha.Leader?.PrimaryName is { } p && p != old.Name, Bound, "a standby promoted");
        var promoted = ha.Cluster.Node(ha.Leader!.PrimaryName!);
        var failedOverAt = clock.Elapsed;

        await ha.WaitForAsync(() => ha.Leader?.Coordinator.View.Find(old.Name)?.Agent is { } a && (a.StartsWith("rewound", StringComparison.Ordinal) || a.Contains("failed", StringComparison.Ordinal)),
            Bound, $"{old.Name} rejoined");
        await CoordinatedCluster.WaitForStreamingAsync(promoted, old, TimeSpan.FromSeconds(30));
        output.WriteLine($"failover after {failedOverAt.TotalMilliseconds:0} ms; {old.Name} streams from {promoted.Name} after {clock.Elapsed.TotalMilliseconds:0} ms");

        var leader = ha.Leader!.Coordinator.Ha!;
        var token = leader.FencingToken!.Value;
        var state = await leader.ReadStateAsync(CancellationToken.None);
        var report = state.Agents.Value!.Members[old.Name];
        Assert.Equal(("Rejoin", "done", token), (report.Kind, report.State, report.Term));
        Assert.StartsWith($"rewound: streams from {promoted.Name}", report.Detail, StringComparison.Ordinal);
        Assert.Equal(token.ToString(System.Globalization.CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(old.DataDirectory + ".agent-term")).Trim());

        // It is in the synchronous set again: the new primary's quorum counts it.
        var sync = await promoted.ScalarAsync<string>($"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{old.Name}'");
        Assert.Contains(sync, new[] { "quorum", "sync" });

        // A deposed leader's order (an older token) is refused, and the server is left alone.
        var pid = old.ProcessId;
        var (status, body) = await ha.Agents!.OrderAsync(old.Name, JsonSerializer.Serialize(new { member = old.Name, kind = "stop", term = token - 1, leader = "deposed" }));
        Assert.Equal(409, status);
        Assert.Contains("stale fencing token", body, StringComparison.Ordinal);
        Assert.Equal(pid, old.ProcessId);
    }

    [Fact]
    public async Task A_new_leader_announces_its_term_to_every_agent_so_a_deposed_leaders_order_is_refused_though_no_real_order_was_sent()
    {
        await using var ha = await HaCoordinators.StartAsync(output, fixture.Etcd, agents: true);
        var first = ha.LeaderName!;
        var firstToken = ha.Leader!.Coordinator.Ha!.FencingToken!.Value;
        // Nothing needs an order on a healthy cluster; every agent records the leader's term all the same.
        await WaitForTermAsync(ha, firstToken);

        await ha.KillAsync(first);
        await ha.WaitForAsync(() => ha.Leader is not null && ha.LeaderName != first && ha.Leader.Coordinator.Ha!.FencingToken is not null, Bound, "another leader");
        var secondToken = ha.Leader!.Coordinator.Ha!.FencingToken!.Value;
        Assert.True(secondToken > firstToken, $"the new term {secondToken} is above {firstToken}");
        await WaitForTermAsync(ha, secondToken);

        // The deposed leader's late order (its own token) is refused by every agent, and no server is touched.
        foreach (var node in ha.Cluster.Nodes)
        {
            var pid = node.ProcessId;
            var (status, body) = await ha.Agents!.OrderAsync(node.Name, JsonSerializer.Serialize(new { member = node.Name, kind = "stop", term = firstToken, leader = first }));
            Assert.Equal(409, status);
            Assert.Contains($"stale fencing token {firstToken}: this agent has obeyed term {secondToken}", body, StringComparison.Ordinal);
            Assert.Equal(pid, node.ProcessId);

            // The new leader sent no real order: the agent has done nothing to its server.
            using var http = ha.Agents.ClientOf(node.Name);
            using var last = await http.GetAsync("orders/last");
            Assert.Equal(404, (int)last.StatusCode);
        }

        Assert.Equal(ha.Cluster.Primary.Name, ha.Leader!.PrimaryName);
    }

    /// <summary>Waits until every agent's term file holds <paramref name="token"/>.</summary>
    private static async Task WaitForTermAsync(HaCoordinators ha, long token)
    {
        string Term(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "(none)";
        var expected = token.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await ha.WaitForAsync(() => ha.Cluster.Nodes.All(n => Term(n.DataDirectory + ".agent-term") == expected), Bound,
            $"every agent records term {expected} (now: {string.Join(", ", ha.Cluster.Nodes.Select(n => $"{n.Name} {Term(n.DataDirectory + ".agent-term")}"))})");
    }
}
