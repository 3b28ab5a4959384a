using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.HealthChecks.Tests;

/// <summary>Every test starts its own cluster (they stop servers and pause replay) and is bounded by one token.</summary>
public sealed class RoutingDataSourceHealthCheckTests(ITestOutputHelper output)
{
    private static readonly TimeSpan TestBudget = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Healthy_with_a_primary_and_every_standby_serving_reads()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster);

        // The first check runs before the monitor's first round: it must wait for that round, not report "no primary".
        var report = await host.CheckAsync(cts.Token);
        var entry = report.Entries[RoutingDataSourceHealthChecksBuilderExtensions.DefaultName];
        output.WriteLine(entry.Description);

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.Contains("ready", entry.Tags);
        Assert.Equal("n0", entry.Data["primary"]);
        Assert.False(entry.Data.ContainsKey("problem"));
        var backends = Backends(entry);
        Assert.Equal(["n0", "n1", "n2"], backends.Select(b => (string)b["name"]!));
        Assert.Equal(["primary", "standby", "standby"], backends.Select(b => (string)b["role"]!));
        Assert.All(backends, b => Assert.Equal("up", b["state"]));
        Assert.All(backends.Skip(1), b => Assert.Equal(true, b["servesReads"]));
        Assert.All(backends, b => Assert.Contains("lagBytes", b.Keys));
        Assert.All(backends, b => Assert.IsType<long>(b["reads"]));
        Assert.All(backends, b => Assert.IsType<long>(b["writes"]));
        Assert.Contains("n1", (string)entry.Data["table"]);
    }

    [Fact]
    public async Task Degraded_when_a_standby_is_down()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster);
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);

        await cluster.Node("n2").StopAsync(immediate: true, cts.Token);
        // Down takes HealthCheckMaxRetries failed probes: wait for that, not merely for "serves no reads".
        var entry = await WaitForBackendStateAsync(host, "n2", "down", cts.Token);
        output.WriteLine(entry.Description);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("n2 down", entry.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("n1", entry.Description, StringComparison.Ordinal);
        Assert.Equal("n0", entry.Data["primary"]);
    }

    [Fact]
    public async Task Degraded_when_every_standby_is_down_and_reads_fall_back_to_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster);
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);

        await cluster.Node("n1").StopAsync(immediate: true, cts.Token);
        var entry = await WaitForBackendStateAsync(host, "n1", "down", cts.Token);
        output.WriteLine(entry.Description);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.StartsWith("no standby serves reads", entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Degraded_when_a_standby_lags_past_the_limit()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster, b => b.Options.MaxReplicationLagBytes = 64 * 1024);
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);

        var n1 = cluster.Node("n1");
        await n1.PauseReplayAsync(cts.Token);
        await cluster.Primary.ExecuteAsync("CREATE TABLE filler AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 20000) g", cts.Token);
        var entry = await host.WaitForAsync(HealthStatus.Degraded, cts.Token);
        output.WriteLine(entry.Description);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Contains("n1 serves no reads", entry.Description, StringComparison.Ordinal);
        var n1Row = Backends(entry).Single(b => (string)b["name"]! == "n1");
        Assert.Equal("up", n1Row["state"]);
        Assert.Equal(false, n1Row["servesReads"]);
        Assert.True((long)n1Row["lagBytes"]! > 64 * 1024);

        // Replay resumed: the standby catches up and the cluster is healthy again (failback needs no restart).
        await n1.ResumeReplayAsync(cts.Token);
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);
    }

    [Fact]
    public async Task Degraded_when_a_standby_is_detached()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster);
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);

        host.DataSource.DetachBackend("n1");
        var entry = await host.WaitForAsync(HealthStatus.Degraded, cts.Token);

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Equal("n1 detached", entry.Description);
    }

    [Fact]
    public async Task Unhealthy_without_a_primary_and_failure_status_replaces_unhealthy()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, cts.Token);
        await using var host = HealthCheckHost.Create(cluster, checks: hc => hc
            .AddRoutingDataSource()
            .AddRoutingDataSource(name: "soft", failureStatus: HealthStatus.Degraded));
        Assert.Equal(HealthStatus.Healthy, (await host.WaitForAsync(HealthStatus.Healthy, cts.Token)).Status);

        await cluster.Primary.StopAsync(immediate: true, cts.Token);
        var entry = await host.WaitForAsync(HealthStatus.Unhealthy, cts.Token);
        output.WriteLine(entry.Description);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.StartsWith("no primary", entry.Description, StringComparison.Ordinal);
        Assert.False(entry.Data.ContainsKey("primary"));
        Assert.True(entry.Data.ContainsKey("problem"));
        Assert.Equal("down", Backends(entry).Single(b => (string)b["name"]! == "n0")["state"]);
        // Reads still work on the standby, so an application may choose to report this as Degraded.
        var soft = (await host.CheckAsync(cts.Token)).Entries["soft"];
        Assert.Equal(HealthStatus.Degraded, soft.Status);
    }

    private static async Task<HealthReportEntry> WaitForBackendStateAsync(HealthCheckHost host, string backend, string state, CancellationToken cancellationToken)
    {
        HealthReportEntry last = default;
        for (var i = 0; i < 1000 && !cancellationToken.IsCancellationRequested; i++)
        {
            last = (await host.CheckAsync(cancellationToken)).Entries[RoutingDataSourceHealthChecksBuilderExtensions.DefaultName];
            if (Backends(last).Any(b => (string)b["name"]! == backend && (string)b["state"]! == state))
                return last;
            await Task.Delay(50, cancellationToken);
        }
        return last;
    }

    private static IReadOnlyList<IReadOnlyDictionary<string, object?>> Backends(HealthReportEntry entry)
        => (IReadOnlyList<IReadOnlyDictionary<string, object?>>)entry.Data["backends"];
}
