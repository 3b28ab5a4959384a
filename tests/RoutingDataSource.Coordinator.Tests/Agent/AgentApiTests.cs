using System.Net;
using System.Text.Json;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>A primary and a standby, each with its agent (separate processes, as the servers' OS user); no coordinator.</summary>
public sealed class AgentClusterFixture : IAsyncLifetime
{
    public LocalPgCluster Cluster { get; private set; } = null!;

    internal NodeAgents Agents { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 });
        Agents = await NodeAgents.StartAsync(Cluster);
    }

    public async Task DisposeAsync()
    {
        if (Agents is not null)
            await Agents.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

public sealed class AgentApiTests(AgentClusterFixture fixture) : IClassFixture<AgentClusterFixture>
{
    private LocalPgCluster Cluster => fixture.Cluster;

    private NodeAgents Agents => fixture.Agents;

    [Fact]
    public async Task Requests_without_the_token_or_with_another_are_refused_and_change_nothing()
    {
        var standby = Cluster.Standbys[0];
        var pid = standby.ProcessId;
        using (var anonymous = Agents.ClientOf(standby.Name, withToken: false))
        {
            using var facts = await anonymous.GetAsync("local");
            Assert.Equal(HttpStatusCode.Unauthorized, facts.StatusCode);
            anonymous.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-token-at-all-0000");
            using var wrong = await anonymous.GetAsync("local");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        var (status, body) = await Agents.OrderAsync(standby.Name, Order(standby.Name, "stop", 0), withToken: false);
        Assert.Equal(401, status);
        Assert.Contains("Bearer", body, StringComparison.Ordinal);
        Assert.Equal(pid, standby.ProcessId);
    }

    [Fact]
    public async Task Local_facts_come_from_the_control_file_and_the_server_processes()
    {
        var primary = await FactsAsync(Cluster.Primary.Name);
        Assert.Equal(Cluster.Primary.ProcessId, primary.GetProperty("postmasterPid").GetInt32());
        Assert.Equal("in production", primary.GetProperty("clusterState").GetString());
        Assert.False(primary.GetProperty("standbySignal").GetBoolean());
        Assert.True(primary.GetProperty("walLogHints").GetBoolean());
        var system = await Cluster.Primary.ScalarAsync<long>("SELECT system_identifier FROM pg_control_system()");
        Assert.Equal(system.ToString(System.Globalization.CultureInfo.InvariantCulture), primary.GetProperty("systemIdentifier").GetString());

        var standby = await FactsAsync(Cluster.Standbys[0].Name);
        Assert.Equal(Cluster.Standbys[0].ProcessId, standby.GetProperty("postmasterPid").GetInt32());
        Assert.Equal("in archive recovery", standby.GetProperty("clusterState").GetString());
        Assert.True(standby.GetProperty("standbySignal").GetBoolean());
        Assert.True(standby.GetProperty("streaming").GetBoolean(), standby.ToString());
        Assert.Equal(system.ToString(System.Globalization.CultureInfo.InvariantCulture), standby.GetProperty("systemIdentifier").GetString());
    }

    [Fact]
    public async Task An_order_for_another_member_is_refused_and_neither_server_is_touched()
    {
        var primary = Cluster.Primary;
        var standby = Cluster.Standbys[0];
        var (primaryPid, standbyPid) = (primary.ProcessId, standby.ProcessId);
        var term = await HighestTermAsync(standby.Name) + 1;

        var (status, body) = await Agents.OrderAsync(standby.Name, Order(primary.Name, "stop", term));

        Assert.Equal(403, status);
        Assert.Contains($"acts on {standby.Name} only", body, StringComparison.Ordinal);
        Assert.Equal(primaryPid, primary.ProcessId);
        Assert.Equal(standbyPid, standby.ProcessId);
        Assert.False(await primary.IsInRecoveryAsync());
    }

    [Fact]
    public async Task An_order_with_a_stale_fencing_token_is_refused_and_the_highest_token_is_kept_on_disk()
    {
        var standby = Cluster.Standbys[0];
        var pid = standby.ProcessId;
        var term = await HighestTermAsync(standby.Name) + 10;

        var (accepted, acceptedBody) = await Agents.OrderAsync(standby.Name, Order(standby.Name, "start", term));
        Assert.Equal(200, accepted);
        Assert.Contains("already running", acceptedBody, StringComparison.Ordinal);
        Assert.Equal(term.ToString(System.Globalization.CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(standby.DataDirectory + ".agent-term")).Trim());

        var (stale, staleBody) = await Agents.OrderAsync(standby.Name, Order(standby.Name, "stop", term - 1));
        Assert.Equal(409, stale);
        Assert.Contains("stale fencing token", staleBody, StringComparison.Ordinal);
        Assert.Equal(pid, standby.ProcessId);
        Assert.Equal(term, await HighestTermAsync(standby.Name));
    }

    [Fact]
    public async Task The_agent_stops_a_primary_but_never_starts_one()
    {
        var primary = Cluster.Primary;
        var term = await HighestTermAsync(primary.Name);
        try
        {
            var (stopped, stopBody) = await Agents.OrderAsync(primary.Name, Order(primary.Name, "stop", term));
            Assert.Equal(200, stopped);
            Assert.True(JsonDocument.Parse(stopBody).RootElement.GetProperty("succeeded").GetBoolean(), stopBody);
            Assert.False(primary.IsRunning);

            var (refused, body) = await Agents.OrderAsync(primary.Name, Order(primary.Name, "start", term));
            Assert.Equal(200, refused);
            var result = JsonDocument.Parse(body).RootElement;
            Assert.False(result.GetProperty("succeeded").GetBoolean());
            Assert.Contains("never starts a primary", result.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.False(primary.IsRunning);
        }
        finally
        {
            await primary.StartAsync();
            await Cluster.WaitForReplicationAsync(); // the other tests find the standby streaming again
            await CoordinatedCluster.WaitForStreamingAsync(primary, Cluster.Standbys[0], TimeSpan.FromSeconds(30));
        }
    }

    private static string Order(string member, string kind, long term) =>
        JsonSerializer.Serialize(new { member, kind, term, leader = "test" });

    private async Task<JsonElement> FactsAsync(string member)
    {
        using var http = Agents.ClientOf(member);
        return JsonDocument.Parse(await http.GetStringAsync("local")).RootElement.Clone();
    }

    private async Task<long> HighestTermAsync(string member) => (await FactsAsync(member)).GetProperty("highestTerm").GetInt64();
}

/// <summary>Every agent a test starts is stopped by the harness: disposing the cluster kills its agents before its servers.</summary>
public sealed class AgentLifetimeTests
{
    [Fact]
    public async Task Disposing_the_cluster_kills_the_agents_it_started()
    {
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 });
        int pid;
        try
        {
            var agent = await LocalNodeAgent.StartAsync(cluster.Standbys[0], BuiltProgram.DllPath, NodeAgents.Token, CoordinatedCluster.ReplicationConnInfo);
            pid = agent.ProcessId;
            Assert.True(File.Exists($"/proc/{pid}/stat"));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
        Assert.False(File.Exists($"/proc/{pid}/stat"), $"agent {pid} still runs after the cluster was disposed");
    }
}
