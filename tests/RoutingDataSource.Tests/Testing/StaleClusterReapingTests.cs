using System.Diagnostics;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Tests.Testing;

/// <summary>
/// Runs alone: any cluster start reaps stale clusters, so a parallel test's start could reap the
/// "left behind" cluster while this test is still building it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StaleClusterReapingCollection
{
    public const string Name = "Testing: stale cluster reaping (not parallel)";
}

[Collection(StaleClusterReapingCollection.Name)]
public sealed class StaleClusterReapingTests
{
    [Fact]
    public async Task Next_start_stops_and_deletes_a_cluster_whose_owner_process_is_dead()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var deadOwner = await DeadProcessStampAsync();
        await using var leftBehind = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 1 }, deadOwner, timeout.Token);
        var processes = ServerProcesses.Of(leftBehind.Directory);
        Assert.NotEmpty(processes);
        // Old enough to be reaped: the reaper leaves a dead owner's directory alone for a grace period.
        Directory.SetLastWriteTimeUtc(leftBehind.Directory, DateTime.UtcNow - StaleClusterReaper.Grace - TimeSpan.FromSeconds(5));

        await using var next = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 0 }, timeout.Token);

        Assert.False(ServerProcesses.AnyAlive(processes));
        Assert.False(Directory.Exists(leftBehind.Directory));
        Assert.True(next.Primary.IsRunning);
    }

    [Fact]
    public async Task Next_start_stops_and_deletes_an_etcd_cluster_whose_owner_process_is_dead()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var deadOwner = await DeadProcessStampAsync();
        await using var leftBehind = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, deadOwner, timeout.Token);
        var processes = EtcdClusterTests.MemberProcesses(leftBehind);
        Directory.SetLastWriteTimeUtc(leftBehind.Directory, DateTime.UtcNow - StaleClusterReaper.Grace - TimeSpan.FromSeconds(5));

        await using var next = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, timeout.Token);

        Assert.False(ServerProcesses.AnyAlive(processes));
        Assert.False(Directory.Exists(leftBehind.Directory));
        Assert.True(next.Members[0].IsRunning);
    }

    private static async Task<string> DeadProcessStampAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        var stamp = WorkArea.StampOf(process.Id)!;
        process.Kill();
        await process.WaitForExitAsync();
        return stamp;
    }
}
