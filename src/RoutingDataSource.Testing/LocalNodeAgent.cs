using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Testing;

/// <summary>
/// The coordinator's node agent (<c>routing-coordinator agent</c>) beside one <see cref="LocalPgNode"/>: a separate
/// process running the built coordinator program, as the servers' OS user (through <c>setpriv</c> when this process
/// is root), on a loopback port, with its token in its environment. It is killed when the cluster is disposed, before
/// the servers are stopped (as the other processes a test starts; a test host killed outright leaves it running).
/// </summary>
public sealed partial class LocalNodeAgent : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private int _disposed;

    private LocalNodeAgent(LocalPgNode node, Process process)
    {
        Node = node;
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The node this agent acts on.</summary>
    public LocalPgNode Node { get; }

    /// <summary>The agent's HTTP address (what a coordinator's <c>Backends[].Agent</c> names).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>The agent's process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Everything the agent wrote so far (its log).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts the agent of <paramref name="node"/> from <paramref name="coordinatorDll"/> (the built
    /// RoutingDataSource.Coordinator.dll), with <paramref name="token"/> and the <c>primary_conninfo</c> template
    /// <paramref name="replicationConnInfo"/>; on <paramref name="port"/> (0: a free one). Returns once it listens.
    /// </summary>
    public static async Task<LocalNodeAgent> StartAsync(LocalPgNode node, string coordinatorDll, string token, string replicationConnInfo, int port = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var config = Path.Combine(node.Cluster.Directory, $"{node.Name}.agent.json");
        var settings = new Dictionary<string, object>
        {
            ["Local"] = new Dictionary<string, string>
            {
                ["Name"] = node.Name,
                ["DataDirectory"] = node.DataDirectory,
                ["BinDirectory"] = node.Cluster.Binaries.Directory,
                ["ServerLog"] = node.LogPath,
                ["Listen"] = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}"),
                ["ReplicationConnInfo"] = replicationConnInfo,
                ["StreamTimeout"] = "00:00:20",
            },
        };
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(settings), cancellationToken).ConfigureAwait(false);
        var start = Command.CreateStartInfo("dotnet", [coordinatorDll, "agent", "--config", config], asServer: true);
        // No parent-death signal (setpriv --pdeathsig): Linux sends it when the *thread* that started the process ends,
        // and a thread-pool thread of this process ends at any time; the soak saw agents killed midway through a rejoin.
        start.Environment["ROUTING_AGENT_TOKEN"] = token;
        var agent = new LocalNodeAgent(node, Process.Start(start) ?? throw new InvalidOperationException($"Could not start the agent of {node.Name}."));
        agent._process.StandardInput.Close();
        node.Cluster.Track(agent);
        try
        {
            await Poll.UntilAsync(
                _ => Task.FromResult(agent._process.HasExited ? throw new InvalidOperationException($"The agent of {node.Name} exited:\n{agent.Output}") : agent.TryReadAddress()),
                // Generous: on a loaded machine (the full suite beside other work) a .NET process's start and this
                // process's output callbacks were seen to take over 30 s.
                TimeSpan.FromSeconds(90),
                () => $"The agent of {node.Name} did not listen within 90 s:\n{agent.Output}",
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await agent.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return agent;
    }

    /// <summary>Kills the agent (its server is left as it is).</summary>
    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }

    /// <summary>Kills the agent now; blocking for at most a few seconds.</summary>
    internal void Kill()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        Node.Cluster.Untrack(this);
    }

    private bool TryReadAddress()
    {
        if (Listening().Match(Output) is not { Success: true } match)
        {
            return false;
        }

        Address = new Uri(match.Groups["url"].Value);
        return true;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"agent: \S+ on (?<url>http://127\.0\.0\.1:\d+/)")]
    private static partial Regex Listening();
}
