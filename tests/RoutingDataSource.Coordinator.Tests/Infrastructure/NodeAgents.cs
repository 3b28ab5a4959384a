using System.Net.Http.Headers;
using System.Text;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>
/// One node agent per server of a <see cref="LocalPgCluster"/> (<see cref="LocalNodeAgent"/>: the built program as a
/// separate process, as the servers' OS user), with the test token. Disposal kills every agent; the cluster's own
/// disposal does too, even when a test failed midway.
/// </summary>
internal sealed class NodeAgents : IAsyncDisposable
{
    public const string Token = "test-agent-token-0123456789";

    private readonly Dictionary<string, LocalNodeAgent> _agents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _ports = new(StringComparer.Ordinal);

    private NodeAgents()
    {
    }

    public Uri AddressOf(string member) => new(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"http://127.0.0.1:{_ports[member]}/"));

    public string OutputOf(string member) => _agents[member].Output;

    public static async Task<NodeAgents> StartAsync(LocalPgCluster cluster)
    {
        var agents = new NodeAgents();
        try
        {
            foreach (var node in cluster.Nodes)
                await agents.StartOneAsync(node, 0);
            return agents;
        }
        catch
        {
            await agents.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills <paramref name="member"/>'s agent (a crashed or not yet started agent); <see cref="RestartAsync"/> brings it back on the same port.</summary>
    public async Task KillAsync(string member) => await _agents[member].DisposeAsync();

    /// <summary>Starts <paramref name="node"/>'s agent again, on the port it had (the coordinator knows it by that address).</summary>
    public Task RestartAsync(LocalPgNode node) => StartOneAsync(node, _ports[node.Name]);

    private async Task StartOneAsync(LocalPgNode node, int port)
    {
        var agent = await LocalNodeAgent.StartAsync(node, BuiltProgram.DllPath, Token, CoordinatedCluster.ReplicationConnInfo, port);
        _agents[node.Name] = agent;
        _ports[node.Name] = agent.Address.Port;
    }

    /// <summary>An HTTP client of <paramref name="member"/>'s agent, with the token unless <paramref name="withToken"/> is false.</summary>
    public HttpClient ClientOf(string member, bool withToken = true)
    {
        var http = new HttpClient { BaseAddress = AddressOf(member), Timeout = TimeSpan.FromMinutes(2) };
        if (withToken)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return http;
    }

    /// <summary>POSTs an order (JSON) to <paramref name="member"/>'s agent; the status and body.</summary>
    public async Task<(int Status, string Body)> OrderAsync(string member, string json, bool withToken = true)
    {
        using var http = ClientOf(member, withToken);
        using var response = await http.PostAsync("orders", new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents.Values)
            await agent.DisposeAsync();
        _agents.Clear();
    }
}
