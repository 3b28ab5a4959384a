using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Testing;
using Xunit.Abstractions;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Topology;

/// <summary>
/// DESIGN.md "Routing rules", eligible standby: on the primary's timeline. A promotion leaves a standby that still
/// follows the old primary on the old timeline: it replays WAL the new primary never had, and its lag in bytes says
/// nothing. It must get no reads.
/// </summary>
public sealed class LowerTimelineStandbyTests(ITestOutputHelper output)
{
    [Fact]
    public Task A_standby_left_on_the_old_timeline_by_a_promotion_gets_no_reads() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 2 }, async (cluster, ct) =>
        {
            var (n0, n1, n2) = (cluster.Primary, cluster.Node("n1"), cluster.Node("n2"));
            await n0.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY, written_on text)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);

            // n1 is promoted while n0 runs on: n2 keeps streaming n0's timeline 1, which n1 (timeline 2) never sees.
            await n1.PromoteAsync(ct);
            await n1.ExecuteAsync("INSERT INTO t VALUES (1, 'n1')", ct);
            await n0.ExecuteAsync("INSERT INTO t SELECT i, 'n0, old timeline' FROM generate_series(100, 200) i", ct);
            await n2.WaitForReplayAsync(await n0.GetWalPositionAsync(ct), cancellationToken: ct);
            Assert.True(await n2.IsInRecoveryAsync(ct));
            Assert.Equal(1, await n2.GetTimelineAsync(ct));
            Assert.Equal(2, await n1.GetTimelineAsync(ct));

            await using var ds = await CreateAsync(cluster);
            var status = ds.GetStatus();
            var orphan = status["n2"]!;
            output.WriteLine($"primary {status.PrimaryName}; n2: timeline {orphan.Timeline}, lag {orphan.LagBytes} bytes, serves reads {orphan.ServesReads}, reason: {orphan.Reason}");
            Assert.Equal("n1", status.PrimaryName);
            Assert.Equal(BackendState.Fenced, status["n0"]!.State);
            Assert.Equal(BackendState.Up, orphan.State);
            Assert.False(orphan.ServesReads);
            Assert.Contains("timeline 1, below the primary's timeline 2", orphan.Reason, StringComparison.Ordinal);

            await using var conn = await ds.OpenConnectionAsync();
            for (var i = 0; i < 20; i++)
                Assert.Equal("n1", await ScalarAsync(conn, "SELECT string_agg(written_on, ',') FROM t"));
            var after = ds.GetStatus();
            Assert.Equal(0, after["n2"]!.ReadCount);
            Assert.Equal(20, after["n1"]!.ReadCount);
        }, seconds: 90);
}
