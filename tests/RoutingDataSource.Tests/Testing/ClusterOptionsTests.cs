using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

public sealed class ClusterOptionsTests(ITestOutputHelper output)
{
    [Fact]
    public Task Synchronous_replication_makes_the_standbys_a_quorum() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true }, async (cluster, ct) =>
        {
            Assert.Equal("ANY 1 (\"n1\", \"n2\")", await cluster.Primary.ScalarAsync<string>("SHOW synchronous_standby_names", ct));
            await ClusterTest.EventuallyAsync(
                async () => await cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'", ct) == 2,
                "both standbys are quorum standbys", ct);

            // A commit waits for one standby: it returns, so at least one has it.
            await cluster.Primary.ExecuteAsync("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", ct);
        });

    [Fact]
    public Task Standby_can_stream_under_another_application_name_and_extra_settings_apply_everywhere()
    {
        var options = new LocalPgClusterOptions { Standbys = 1 };
        options.StandbyApplicationNames["n1"] = "reporting replica";
        options.ExtraSettings.Add("work_mem = '7MB'");
        return ClusterTest.WithClusterAsync(output, options, async (cluster, ct) =>
        {
            Assert.Equal("reporting replica", cluster.Node("n1").ApplicationName);
            Assert.Equal("reporting replica", await cluster.Primary.ScalarAsync<string>("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", ct));
            Assert.Equal("n1", await cluster.Primary.ScalarAsync<string>("SELECT slot_name FROM pg_replication_slots WHERE active", ct));
            foreach (var node in cluster.Nodes)
            {
                Assert.Equal("7MB", await node.ScalarAsync<string>("SHOW work_mem", ct));
            }
        });
    }

    [Fact]
    public async Task Invalid_options_are_rejected_before_anything_starts()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = -1 }));
        await Assert.ThrowsAsync<ArgumentException>(() => LocalPgCluster.StartAsync(new LocalPgClusterOptions { NamePrefix = "bad name" }));
        var unknownStandby = new LocalPgClusterOptions { Standbys = 1 };
        unknownStandby.StandbyApplicationNames["n2"] = "x";
        await Assert.ThrowsAsync<ArgumentException>(() => LocalPgCluster.StartAsync(unknownStandby));
    }
}
