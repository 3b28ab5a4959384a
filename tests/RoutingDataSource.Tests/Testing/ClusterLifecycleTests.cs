using System.Diagnostics;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

public sealed class ClusterLifecycleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Two_clusters_run_side_by_side_without_sharing_anything()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ct = timeout.Token;
        var starting = new[] { "a-", "b-" }.Select(prefix => LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1, NamePrefix = prefix }, ct)).ToArray();
        await using var a = await starting[0];
        await using var b = await starting[1];

        Assert.Equal(["a-n0", "a-n1"], a.Nodes.Select(n => n.Name));
        Assert.Equal(["b-n0", "b-n1"], b.Nodes.Select(n => n.Name));
        Assert.Empty(a.Nodes.Select(n => n.Port).Intersect(b.Nodes.Select(n => n.Port)));
        Assert.NotEqual(a.Directory, b.Directory);

        await a.Primary.ExecuteAsync("CREATE TABLE only_in_a (x int)", ct);
        await a.WaitForReplicationAsync(cancellationToken: ct);
        await b.WaitForReplicationAsync(cancellationToken: ct);

        Assert.Equal(1L, await a.Node("a-n1").ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'", ct));
        Assert.Equal(0L, await b.Node("b-n1").ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'", ct));
        Assert.Equal("a_n1", await a.Primary.ScalarAsync<string>("SELECT slot_name FROM pg_replication_slots", ct));
    }

    [Fact]
    public async Task Disposal_stops_every_server_even_a_frozen_one_and_deletes_the_directory()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, timeout.Token);
        await cluster.Node("n1").FreezeAsync(timeout.Token);
        var processes = ServerProcesses.Of(cluster.Directory);
        Assert.True(processes.Count >= 10, $"expected two postmasters with their children, saw {processes.Count} processes");

        var clock = Stopwatch.StartNew();
        await cluster.DisposeAsync();
        output.WriteLine($"disposed in {clock.ElapsedMilliseconds} ms");

        Assert.False(ServerProcesses.AnyAlive(processes));
        Assert.Empty(ServerProcesses.Of(cluster.Directory));
        Assert.False(Directory.Exists(cluster.Directory));
        // Nothing else mentioning the directory survives either: runuser wrappers, the watchdog.
        await ClusterTest.EventuallyAsync(() => Task.FromResult(ServerProcesses.Mentioning(cluster.Directory).Count == 0), "no process mentions the directory", timeout.Token);
    }

    [Fact]
    public async Task Watchdog_stops_the_servers_and_deletes_the_directory_when_the_owner_dies()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, timeout.Token);
        await cluster.Node("n1").FreezeAsync(timeout.Token);
        var processes = ServerProcesses.Of(cluster.Directory);

        // What the kernel does to the watchdog's pipe when this process is SIGKILLed.
        cluster.SimulateOwnerDeath();

        await ClusterTest.EventuallyAsync(
            () => Task.FromResult(!ServerProcesses.AnyAlive(processes) && !Directory.Exists(cluster.Directory)),
            "the watchdog stopped the servers and deleted the directory", timeout.Token);
    }

    [Fact]
    public async Task Start_failure_explains_itself_with_the_server_log_and_leaves_nothing_behind()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var options = new LocalPgClusterOptions { Standbys = 1, NamePrefix = "broken-" };
        options.ExtraSettings.Add("no_such_setting = 1");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => LocalPgCluster.StartAsync(options, timeout.Token));

        output.WriteLine(error.Message);
        Assert.Contains("broken-n0 failed to start", error.Message, StringComparison.Ordinal);
        Assert.Contains("unrecognized configuration parameter \"no_such_setting\"", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.EnumerateDirectories(WorkArea.Root), d => d.Contains($"cluster-{WorkArea.OwnerStamp}-", StringComparison.Ordinal) && d.EndsWith("-broken", StringComparison.Ordinal));
    }
}
