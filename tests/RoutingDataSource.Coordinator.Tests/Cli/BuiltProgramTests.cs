using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Cli;

/// <summary>The real built program as child processes: the daemon, and the CLI talking to it.</summary>
public sealed class BuiltProgramTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("rds-coord-exe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Config_errors_are_all_listed_and_the_program_exits_with_2()
    {
        var path = Path.Combine(_dir, "bad.json");
        await File.WriteAllTextAsync(path, """
            { "Coordinator": {
                "Backends": [ { "Name": "n0", "ConnectionString": "Host=127.0.0.1;Port=1" }, { "Name": "n0", "ConnectionString": "", "Priority": -1 } ],
                "ProbeInterval": "often", "FailureThreshold": 0, "Http": "127.0.0.1:99999", "Colour": "blue" } }
            """);
        var (code, text) = await BuiltProgram.RunAsync(CommandTimeout, "run", "--config", path);
        output.WriteLine(text);
        Assert.Equal(2, code);
        Assert.Contains("8 problem(s)", text, StringComparison.Ordinal);
        foreach (var expected in new[] { "Coordinator:Colour: unknown setting", "ProbeInterval: 'often'", "Name is used twice", "connection string is empty",
            "Priority must be 0", "ReplicationConnInfo is required", "FailureThreshold must be 1", "port from 0 to 65535" })
        {
            if (!text.Contains(expected, StringComparison.Ordinal))
                Assert.Fail($"missing '{expected}' in:\n{text}");
        }

        var (missing, missingText) = await BuiltProgram.RunAsync(CommandTimeout, "run", "--config", Path.Combine(_dir, "nope.json"));
        Assert.Equal(2, missing);
        Assert.Contains("not found", missingText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_and_cli_status_detach_attach_manual_failover_and_hook()
    {
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 });
        await cluster.Primary.ExecuteAsync("CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t VALUES (1)");
        await cluster.WaitForReplicationAsync();
        var port = BuiltProgram.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var hookFile = Path.Combine(_dir, "hook.txt");
        var config = Path.Combine(_dir, "coordinator.json");
        var backends = string.Join(",\n", cluster.Nodes.Select(n =>
            $$"""      { "Name": "{{n.Name}}", "ConnectionString": "{{n.ConnectionString}}", "Priority": 1 }"""));
        await File.WriteAllTextAsync(config, $$"""
            { "Coordinator": {
                "Backends": [
            {{backends}} ],
                "ReplicationConnInfo": "{{CoordinatedCluster.ReplicationConnInfo}}",
                "ProbeInterval": "00:00:01", "ProbeTimeout": "00:00:01", "FailureThreshold": 3,
                "Http": "127.0.0.1:{{port}}",
                "ApiToken": "s3cret",
                "Hooks": { "OnFailover": "/bin/sh -c 'echo \"$@\" > \"$0\"' {{hookFile}} {old_primary} {new_primary} {new_port} {timeline}" } } }
            """);

        using var daemon = BuiltProgram.Start("run", "--config", config);
        try
        {
            await WaitForHealthAsync(url, daemon);

            var (code, status) = await Cli("status", "--url", url);
            Assert.Equal(0, code);
            Assert.Contains("primary: n0", status, StringComparison.Ordinal);
            Assert.Matches(@"n0\s+127\.0\.0\.1:\d+\s+primary\s+up\s+1\s", status);
            Assert.Matches(@"n2\s+127\.0\.0\.1:\d+\s+standby\s+up\s+1\s", status);

            (code, var text) = await Cli("detach", "n2", "--url", url);
            Assert.Equal(1, code); // no token: 401
            Assert.Contains("401", text, StringComparison.Ordinal);

            (code, _) = await Cli("detach", "n2", "--url", url, "--token", "s3cret");
            Assert.Equal(0, code);
            (_, status) = await Cli("status", "--url", url);
            Assert.Matches(@"n2\s+127\.0\.0\.1:\d+\s+standby\s+detached", status);

            (code, text) = await Cli("failover", "--to", "n2", "--url", url, "--token", "s3cret");
            Assert.Equal(2, code);
            Assert.Contains("detached", text, StringComparison.Ordinal);

            (code, _) = await Cli("attach", "n2", "--url", url, "--token", "s3cret");
            Assert.Equal(0, code);

            // A switchover: n0 is alive; its commits wait for n2 first, so none acknowledged is lost.
            var clock = Stopwatch.StartNew();
            (code, text) = await Cli("failover", "--to", "n2", "--url", url, "--token", "s3cret");
            output.WriteLine($"manual failover took {clock.ElapsedMilliseconds} ms: {text}");
            Assert.Equal(0, code);
            Assert.False(await cluster.Node("n2").IsInRecoveryAsync());
            await CoordinatedCluster.WaitForStreamingAsync(cluster.Node("n2"), cluster.Node("n1"), TimeSpan.FromSeconds(15));
            Assert.Equal(1L, await cluster.Node("n2").ScalarAsync<long>("SELECT count(*) FROM t"));

            using var http = new HttpClient { BaseAddress = new Uri(url) };
            var view = await PollAsync(http, v => v.Primary == "n2" && v.Find("n0")!.State == MemberState.Fenced);
            Assert.Equal(2, view.Timeline);
            Assert.Equal(FailoverTrigger.Manual, view.LastFailover!.Trigger);

            for (var i = 0; i < 100 && !File.Exists(hookFile); i++)
                await Task.Delay(100);
            Assert.Equal($"n0 n2 {cluster.Node("n2").Port.ToString(CultureInfo.InvariantCulture)} 2", (await File.ReadAllTextAsync(hookFile)).Trim());
        }
        finally
        {
            daemon.Dispose();
            output.WriteLine("--- daemon output ---\n" + daemon.Output);
        }
    }

    private async Task<(int, string)> Cli(params string[] args)
    {
        var result = await BuiltProgram.RunAsync(CommandTimeout, args);
        output.WriteLine($"$ routing-coordinator {string.Join(' ', args)}  -> {result.ExitCode}\n{result.Output}");
        return result;
    }

    private static async Task WaitForHealthAsync(string url, BuiltProgram daemon)
    {
        // The first request of a freshly started daemon can take seconds on a busy 2-core machine (JIT): an attempt
        // that times out is retried like a refused one, until the overall deadline.
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Assert.False(daemon.HasExited, daemon.Output);
            try
            {
                using var r = await http.GetAsync("health");
                if (r.IsSuccessStatusCode)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException { InnerException: TimeoutException })
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the daemon did not answer /health within 30 s:\n{daemon.Output}");
    }

    private static async Task<ClusterView> PollAsync(HttpClient http, Func<ClusterView, bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = (await http.GetFromJsonAsync<ClusterView>("cluster", Http.Json.Options))!;
            if (condition(view) || clock.Elapsed > TimeSpan.FromSeconds(15))
                return view;
            await Task.Delay(100);
        }
    }
}
