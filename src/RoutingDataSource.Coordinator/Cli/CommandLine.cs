using System.CommandLine;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>
/// <c>routing-coordinator run | check | status | failover | switchover | detach | attach | recover | agent</c>. Exit codes: 0 done, 1 the
/// operation failed or the coordinator could not be reached, 2 bad usage or configuration.
/// </summary>
internal static class CommandLine
{
    public const string DefaultUrl = "http://127.0.0.1:8008";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "Path of coordinator.json", Required = true };
        var url = new Option<string>("--url")
        {
            Description = $"Base address of the coordinator's API (default: $ROUTING_COORDINATOR_URL or {DefaultUrl})",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ROUTING_COORDINATOR_URL") ?? DefaultUrl,
        };
        var token = new Option<string?>("--token")
        {
            Description = "Bearer token for failover/detach/attach (default: $ROUTING_COORDINATOR_TOKEN)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ROUTING_COORDINATOR_TOKEN"),
        };
        var json = new Option<bool>("--json") { Description = "Print the raw JSON of GET /cluster" };
        var to = new Option<string>("--to") { Description = "The standby to promote", Required = true };
        var force = new Option<bool>("--force")
        {
            Description = "Promote although the coordinator knows no primary (it started during an outage): the synchronous set cannot be checked",
        };
        var member = new Argument<string>("name") { Description = "Member name" };

        var run = new Command("run", "Run the coordinator: probe, fail over, serve the HTTP API (until Ctrl-C or SIGTERM)") { config };
        run.SetAction((r, ct) => RunDaemonAsync(r.GetValue(config)!, output, error, ct));

        var connect = new Option<bool>("--connect") { Description = "Also log in to every server: role, privileges and replication settings (changes nothing)" };
        var check = new Command("check", "Check coordinator.json and list every problem") { config, connect };
        check.SetAction(async (r, ct) =>
        {
            if (Load(r.GetValue(config)!, error) is not { } options)
                return 2;
            output.WriteLine("configuration OK");
            return r.GetValue(connect) ? await ConnectCheck.RunAsync(options, output, ct).ConfigureAwait(false) : 0;
        });

        var status = new Command("status", "Show the cluster as the coordinator sees it") { url, json };
        status.SetAction((r, ct) => StatusAsync(r.GetValue(url)!, r.GetValue(json), output, error, ct));

        var failover = new Command("failover", "Promote a standby now (a switchover when the primary is alive)") { to, force, url, token };
        failover.SetAction((r, ct) => PostAsync(r.GetValue(url)!, r.GetValue(token), "failover", new FailoverRequest(r.GetValue(to), r.GetValue(force)), output, error, ct));

        var detach = new Command("detach", "Never promote this member until attached again") { member, url, token };
        detach.SetAction((r, ct) => PostAsync(r.GetValue(url)!, r.GetValue(token), $"members/{Uri.EscapeDataString(r.GetValue(member)!)}/detach", null, output, error, ct));

        var attach = new Command("attach", "Make a detached member a candidate again") { member, url, token };
        attach.SetAction((r, ct) => PostAsync(r.GetValue(url)!, r.GetValue(token), $"members/{Uri.EscapeDataString(r.GetValue(member)!)}/attach", null, output, error, ct));

        var recover = new Command("recover", "Rebuild a member from the primary through its node agent (pg_basebackup; Pgpool's pcp_recovery_node)") { member, url, token };
        recover.SetAction((r, ct) => PostAsync(r.GetValue(url)!, r.GetValue(token), $"members/{Uri.EscapeDataString(r.GetValue(member)!)}/recover", null, output, error, ct));

        var root = new RootCommand("routing-coordinator: failover coordinator for a PostgreSQL primary with streaming standbys (SQL only, no SSH)")
        {
            run, check, status, failover, detach, attach, recover, SwitchoverCommand.Create(url, token, output, error), AgentCommand.Create(output, error),
        };
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration
        {
            Output = output,
            Error = error,
            ProcessTerminationTimeout = TimeSpan.FromSeconds(20),
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads and checks the file; prints every problem and returns null when there is any.</summary>
    internal static CoordinatorOptions? Load(FileInfo file, TextWriter error)
    {
        if (ConsoleSetup.ReadJson(file, "ROUTING_COORDINATOR_", "routing-coordinator", error) is not { } configuration)
            return null;
        var options = CoordinatorConfiguration.Load(configuration, out var problems);
        return ConsoleSetup.Report(file, problems, "routing-coordinator", error) ? options : null;
    }

    private static async Task<int> RunDaemonAsync(FileInfo file, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (Load(file, error) is not { } options)
            return 2;
        using var loggerFactory = ConsoleSetup.Logging();
        CoordinatorHost host;
        try
        {
            host = await CoordinatorHost.StartAsync(options, loggerFactory, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            error.WriteLine($"routing-coordinator: cannot listen on {options.Http}: {e.Message}");
            return 1;
        }
        await using (host.ConfigureAwait(false))
        {
            output.WriteLine($"routing-coordinator: API on {host.Address}");
            try
            {
                await host.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return 0;
    }

    private static async Task<int> StatusAsync(string url, bool json, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (!TryUri(url, error, out var uri))
            return 2;
        using var client = new ApiClient(uri, null);
        try
        {
            var view = await client.GetClusterAsync(ct).ConfigureAwait(false);
            output.Write(json ? JsonSerializer.Serialize(view, Http.Json.Options) + Environment.NewLine : StatusTable.Render(view));
            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or JsonException or TaskCanceledException)
        {
            error.WriteLine($"routing-coordinator: cannot read {uri}cluster: {e.Message}");
            return 1;
        }
    }

    internal static async Task<int> PostAsync(string url, string? token, string path, object? body, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (!TryUri(url, error, out var uri))
            return 2;
        using var client = new ApiClient(uri, token);
        try
        {
            var (code, text) = await client.PostAsync(path, body, ct).ConfigureAwait(false);
            if (code is >= 200 and < 300)
            {
                output.WriteLine(text);
                return 0;
            }
            error.WriteLine($"routing-coordinator: {path}: HTTP {code}: {ApiClient.ErrorOf(text)}");
            return code is 400 or 404 ? 2 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException)
        {
            error.WriteLine($"routing-coordinator: cannot reach the coordinator at {uri}: {e.Message}");
            return 1;
        }
    }

    private static bool TryUri(string url, TextWriter error, out Uri uri)
    {
        if (!url.EndsWith('/'))
            url += "/";
        if (Uri.TryCreate(url, UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https")
            return true;
        error.WriteLine($"routing-coordinator: --url '{url}' is not an http(s) address.");
        return false;
    }
}
