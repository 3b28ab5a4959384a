using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Coordinator.Tests.Infrastructure;

/// <summary>
/// One node agent per server of a <see cref="LocalPgCluster"/>, each the built program (<c>routing-coordinator agent</c>)
/// as a separate process running as the servers' OS user, on a free loopback port, with the token in its environment.
/// Disposal kills every agent (before the cluster stops the servers).
/// </summary>
internal sealed partial class NodeAgents : IAsyncDisposable
{
    public const string Token = "test-agent-token-0123456789";

    private readonly Dictionary<string, (BuiltProgram Process, Uri Address)> _agents = new(StringComparer.Ordinal);
    private string? _binDirectory;

    private NodeAgents()
    {
    }

    public Uri AddressOf(string member) => _agents[member].Address;

    public string OutputOf(string member) => _agents[member].Process.Output;

    public string AllOutput() => string.Join("\n", _agents.Select(a => $"--- agent {a.Key} ---\n{a.Value.Process.Output}"));

    public static async Task<NodeAgents> StartAsync(LocalPgCluster cluster, IEnumerable<LocalPgNode>? nodes = null)
    {
        var agents = new NodeAgents();
        try
        {
            foreach (var node in nodes ?? cluster.Nodes)
                await agents.StartOneAsync(cluster, node);
            return agents;
        }
        catch
        {
            await agents.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills <paramref name="member"/>'s agent (a crashed or not yet started agent); <see cref="RestartAsync"/> brings it back on the same port.</summary>
    public void Kill(string member) => _agents[member].Process.Dispose();

    /// <summary>Starts <paramref name="node"/>'s agent again, on the port it had (the coordinator knows it by that address).</summary>
    public Task RestartAsync(LocalPgCluster cluster, LocalPgNode node) => StartOneAsync(cluster, node, _agents[node.Name].Address.Port);

    private async Task StartOneAsync(LocalPgCluster cluster, LocalPgNode node, int port = 0)
    {
        var config = Path.Combine(cluster.Directory, $"{node.Name}.agent.json");
        var settings = new
        {
            Local = new
            {
                node.Name,
                node.DataDirectory,
                BinDirectory = _binDirectory ??= Path.GetDirectoryName(await BinaryOfAsync(node))!,
                ServerLog = node.LogPath,
                Listen = $"127.0.0.1:{port}",
                ReplicationConnInfo = CoordinatedCluster.ReplicationConnInfo,
                StreamTimeout = "00:00:20",
            },
        };
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(settings));
        var process = BuiltProgram.StartAsServerUser(new Dictionary<string, string> { ["ROUTING_AGENT_TOKEN"] = Token }, "agent", "--config", config);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (Listening().Match(process.Output) is { Success: true } m)
            {
                _agents[node.Name] = (process, new Uri(m.Groups["url"].Value));
                return;
            }
            if (process.HasExited)
                break;
            await Task.Delay(50);
        }
        var output = process.Output;
        process.Dispose();
        throw new InvalidOperationException($"The agent of {node.Name} did not start:\n{output}");
    }

    // The postmaster's own path (/proc/PID/exe) names the binaries the harness runs.
    private static Task<string> BinaryOfAsync(LocalPgNode node) =>
        Task.FromResult(new FileInfo($"/proc/{node.ProcessId}/exe").LinkTarget ?? throw new InvalidOperationException($"{node.Name} is not running"));

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

    public ValueTask DisposeAsync()
    {
        foreach (var (_, agent) in _agents)
            agent.Process.Dispose();
        _agents.Clear();
        return ValueTask.CompletedTask;
    }

    [GeneratedRegex(@"agent: \S+ on (?<url>http://127\.0\.0\.1:\d+/)")]
    private static partial Regex Listening();
}
