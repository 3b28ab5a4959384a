using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;
using StatusTable = RoutingDataSource.Coordinator.Cli.StatusTable;

namespace RoutingDataSource.Coordinator.Tests.Ha;

/// <summary>etcd without a quorum: nobody promotes, every coordinator says why; with the quorum back, the normal verdict fails over once.</summary>
[Collection(HaCoordinatorsCollection.Name)]
public sealed class HaQuorumTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Without_an_etcd_quorum_nobody_promotes_and_health_says_why_and_with_it_back_the_dead_primary_is_replaced_once()
    {
        // Its own etcd: this test takes two of its three members down.
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3 });
        await using var ha = await HaCoordinators.StartAsync(output, etcd);
        var primary = ha.Cluster.Primary;
        var table = StatusTable.Render(HaCoordinators.Api(ha.Leader!));
        Assert.Contains($"leader: {ha.LeaderName}", table, StringComparison.Ordinal);
        Assert.Contains("coordinators: c1", table, StringComparison.Ordinal);
        Assert.Contains("lease: ", table, StringComparison.Ordinal);

        await etcd.Member("e1").StopAsync();
        await etcd.Member("e2").KillAsync();
        await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.Coordinator.Ha!.EtcdProblem is not null && !h.Coordinator.Ha.IsLeader), Bound, "every coordinator finds etcd unusable and none leads");
        foreach (var host in ha.Hosts.Values)
        {
            using var http = new HttpClient { BaseAddress = host.Address };
            using var health = await http.GetAsync("health");
            var body = await health.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal("etcd-unavailable", body.GetProperty("status").GetString());
            Assert.Contains("nobody promotes", body.GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.Contains("etcd: unavailable", StatusTable.Render(HaCoordinators.Api(host)), StringComparison.Ordinal);
        }

        await primary.StopAsync(immediate: true);
        await Task.Delay(HaCoordinators.LeaseTtl + TimeSpan.FromSeconds(4));
        Assert.Equal(0, ha.PromoteRequests());
        Assert.All(ha.Cluster.Standbys, s => Assert.True(s.IsInRecoveryAsync().GetAwaiter().GetResult()));

        await etcd.Member("e1").StartAsync();
        await ha.WaitForAsync(() => ha.Leader is not null, Bound, "a coordinator leads again");
        await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.PrimaryName is { } p && p != primary.Name), Bound, "the leader promoted a standby");
        var promoted = ha.Cluster.Node(ha.Leader!.PrimaryName!);
        await CoordinatedCluster.WaitForStreamingAsync(promoted, ha.Cluster.Standbys.Single(s => s != promoted), Bound);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(1, ha.PromoteRequests());
        await ha.WaitForAsync(() => ha.Hosts.Values.All(h => h.Coordinator.Ha!.EtcdProblem is null), Bound, "every coordinator reaches etcd again");
    }
}
