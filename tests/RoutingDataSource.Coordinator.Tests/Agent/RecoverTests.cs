using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>Online recovery: a standby whose data directory is gone is rebuilt from the primary by its agent.</summary>
public sealed class RecoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Recover_rebuilds_a_standby_whose_data_directory_was_deleted_and_it_streams_with_its_own_settings()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, agents: true, configure: (o, _) => o.ApiToken = "recover-test-api-token");
        var standby = c.Cluster.Standbys[1];
        await LoseDataDirectoryAsync(standby);
        await c.WaitForViewAsync(v => v.Find(standby.Name)!.Agent?.Contains("does not exist", StringComparison.Ordinal) == true, Bound, $"{standby.Name}'s lost directory reported");

        var (code, text) = await BuiltProgram.RunAsync(Bound, "recover", standby.Name, "--url", c.Host!.Address.ToString(), "--token", "recover-test-api-token");
        output.WriteLine(text);

        Assert.Equal(0, code);
        Assert.Contains($"rebuilt: streams from {c.Cluster.Primary.Name}", text, StringComparison.Ordinal);
        await AssertStreamsAgainAsync(c, standby);
    }

    [Fact]
    public async Task With_AutoRebuild_a_standby_whose_data_directory_was_deleted_is_rebuilt_by_itself()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, agents: true, configure: (o, _) => o.AutoRebuild = true);
        var standby = c.Cluster.Standbys[0];
        await LoseDataDirectoryAsync(standby);

        var view = await c.WaitForViewAsync(v => v.Find(standby.Name)!.Agent is { } a && (a.StartsWith("rebuilt", StringComparison.Ordinal) || a.Contains("failed", StringComparison.Ordinal)),
            Bound, $"{standby.Name} rebuilt");
        Assert.StartsWith($"rebuilt: streams from {c.Cluster.Primary.Name}", view.Find(standby.Name)!.Agent, StringComparison.Ordinal);
        await AssertStreamsAgainAsync(c, standby);
    }

    private static async Task LoseDataDirectoryAsync(LocalPgNode standby)
    {
        await standby.StopAsync(immediate: true);
        Directory.Delete(standby.DataDirectory, recursive: true);
    }

    private static async Task AssertStreamsAgainAsync(CoordinatedCluster c, LocalPgNode standby)
    {
        var primary = c.Cluster.Primary;
        await CoordinatedCluster.WaitForStreamingAsync(primary, standby, TimeSpan.FromSeconds(30));
        Assert.True(await standby.IsInRecoveryAsync());
        Assert.Equal(standby.Port, await standby.ScalarAsync<int>("SELECT current_setting('port')::int"));
        await primary.ExecuteAsync("INSERT INTO t VALUES (4242)");
        await standby.WaitForReplayAsync(await primary.GetWalPositionAsync(), TimeSpan.FromSeconds(30));
        Assert.Equal(1L, await standby.ScalarAsync<long>("SELECT count(*) FROM t WHERE id = 4242"));
        Assert.False(Directory.Exists(standby.DataDirectory + ".new"));
    }
}
