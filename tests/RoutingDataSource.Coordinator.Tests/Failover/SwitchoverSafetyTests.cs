using System.Net;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

/// <summary>
/// A switchover that fails leaves the live primary as it was, and one whose HTTP client goes away finishes anyway.
/// The candidate streams through a proxy, so that a test can hold it back while the old primary waits for it.
/// </summary>
public sealed class SwitchoverSafetyTests(ITestOutputHelper output)
{
    private const string Sync = "ANY 1 (n1, n2)";

    private static async Task<(CoordinatedCluster Cluster, FaultProxy Proxy)> StartHeldBackAsync(ITestOutputHelper output, Action<CoordinatorOptions>? configure = null)
    {
        var c = await CoordinatedCluster.StartAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousStandbyNames = Sync }, (o, _) =>
        {
            o.CatchUpTimeout = TimeSpan.FromSeconds(60);
            configure?.Invoke(o);
        });
        var proxy = FaultProxy.For(c.Cluster.Primary);
        try
        {
            await CoordinatedCluster.StreamThroughAsync(c.Cluster.Node("n1"), c.Cluster.Primary, proxy);
            await c.Cluster.Primary.ExecuteAsync("INSERT INTO t SELECT g FROM generate_series(1, 100) g");
            proxy.Blackhole();
            await c.Cluster.Primary.ExecuteAsync("INSERT INTO t SELECT g FROM generate_series(101, 200) g"); // acknowledged by n2
            return (c, proxy);
        }
        catch
        {
            await proxy.DisposeAsync();
            await c.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task A_switchover_that_fails_midway_restores_the_primary_synchronous_standby_names()
    {
        var (c, proxy) = await StartHeldBackAsync(output);
        await using var _ = c;
        await using var __ = proxy;
        var post = c.PostJsonAsync("failover", """{"candidate":"n1"}""");
        await CoordinatedCluster.WaitForSyncNamesAsync(c.Cluster.Primary, v => v.Contains("n1", StringComparison.Ordinal) && !v.Contains("n2", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        // The candidate dies while the old primary's commits wait for it.
        await c.Cluster.Node("n1").StopAsync(immediate: true);
        var (code, body) = await post.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"{code} {body}");
        Assert.NotEqual(HttpStatusCode.OK, code);
        Assert.Equal(Sync, await c.Cluster.Primary.ScalarAsync<string>("SHOW synchronous_standby_names"));
        // Commits are acknowledged by n2 again.
        await c.Cluster.Primary.ExecuteAsync("INSERT INTO t VALUES (1000)").WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_switchover_goes_on_when_its_http_client_goes_away_and_cuts_the_other_standby_off_before_promoting()
    {
        var (c, proxy) = await StartHeldBackAsync(output);
        await using var _ = c;
        await using var __ = proxy;
        using var client = new CancellationTokenSource();
        var post = c.PostJsonAsync("failover", """{"candidate":"n1"}""", client.Token);
        await CoordinatedCluster.WaitForSyncNamesAsync(c.Cluster.Primary, v => v.Contains("n1", StringComparison.Ordinal) && !v.Contains("n2", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        await client.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => post);
        await Task.Delay(500); // the server sees the connection close
        proxy.Heal();

        var view = await c.WaitForViewAsync(v => v.Primary == "n1" && v.LastFailover is not null, TimeSpan.FromSeconds(30), "n1 promoted after all");
        Assert.Equal(FailoverTrigger.Manual, view.LastFailover!.Trigger);
        Assert.Equal(200L, await c.Cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM t"));
        await CoordinatedCluster.WaitForStreamingAsync(c.Cluster.Node("n1"), c.Cluster.Node("n2"), TimeSpan.FromSeconds(20));

        var lines = c.Logging.Lines.ToList();
        var cutOff = lines.FindIndex(l => l.Contains("Standbys cut off from", StringComparison.Ordinal));
        var promoting = lines.FindIndex(l => l.Contains("Promoting n1", StringComparison.Ordinal));
        Assert.True(cutOff >= 0 && promoting > cutOff, "n2 was not cut off from n0 before n1 was promoted");
        Assert.Contains("n2 stopped at", lines[cutOff], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_candidate_whose_synchronous_standby_names_cannot_be_set_is_not_promoted()
    {
        var (c, proxy) = await StartHeldBackAsync(output);
        await using var _ = c;
        await using var __ = proxy;
        proxy.Heal();
        var n1 = c.Cluster.Node("n1");
        // ALTER SYSTEM writes postgresql.auto.conf.tmp first: a directory in its place makes it fail on n1 alone.
        var blocker = Path.Combine(n1.DataDirectory, "postgresql.auto.conf.tmp");
        Directory.CreateDirectory(blocker);
        try
        {
            var (code, body) = await c.PostJsonAsync("failover", """{"candidate":"n1"}""");
            output.WriteLine($"{code} {body}");
            Assert.NotEqual(HttpStatusCode.OK, code);
            Assert.Contains("synchronous_standby_names", body, StringComparison.Ordinal);
            Assert.True(await n1.IsInRecoveryAsync(), "n1 was promoted without the synchronous guarantee");
            Assert.False(await c.Cluster.Primary.IsInRecoveryAsync());
            Assert.Equal(Sync, await c.Cluster.Primary.ScalarAsync<string>("SHOW synchronous_standby_names"));
            // n2, cut off before the promotion that did not happen, follows n0 again.
            await CoordinatedCluster.WaitForStreamingAsync(c.Cluster.Primary, c.Cluster.Node("n2"), TimeSpan.FromSeconds(20));
            await c.Cluster.Primary.ExecuteAsync("INSERT INTO t VALUES (1000)").WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            Directory.Delete(blocker);
        }
    }
}
