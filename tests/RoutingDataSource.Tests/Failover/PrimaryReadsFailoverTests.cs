using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using RoutingDataSource.Tests.Testing;
using Xunit.Abstractions;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Failover;

/// <summary>
/// Weights follow the role through a real failover (<see cref="RoutingOptions.PrimaryServesReads"/>): three data
/// sources, one per mode, on one cluster of its own, every backend of weight 1. The primary is stopped, a standby
/// promoted, the old primary rejoined as a standby; reads are counted per server at each step.
/// </summary>
public sealed class PrimaryReadsFailoverTests(ITestOutputHelper output)
{
    private const int Reads = 60;

    private static Task<PgRoutingDataSource> CreateAsync(LocalPgCluster cluster, PrimaryReadMode mode)
        => TestDataSources.CreateAsync(cluster, b =>
        {
            b.Options.PrimaryServesReads = mode;
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            b.Options.HealthCheckMaxRetries = 2;
            b.Options.FailoverTimeout = TimeSpan.FromSeconds(3);
            // No guard waiting on a standby: a read right after a write then finds no standby known to have replayed
            // it, which is what the modes below differ on.
            b.Options.ReadYourWritesWait = TimeSpan.Zero;
        }, primaryWeight: 1);

    /// <summary><see cref="Reads"/> reads, each on a connection of its own; the reads each backend served meanwhile.</summary>
    private static async Task<string> ReadsPerBackendAsync(PgRoutingDataSource ds)
    {
        var before = ds.GetStatus().Backends.ToDictionary(b => b.Name, b => b.ReadCount);
        for (var i = 0; i < Reads; i++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            await ScalarAsync(conn, "SELECT count(*) FROM t");
        }
        return string.Join(" ", ds.GetStatus().Backends.Select(b => $"{b.Name}:{b.ReadCount - before[b.Name]}"));
    }

    private static Task WaitUntilAsync(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition, string what, CancellationToken ct)
        => ClusterTest.EventuallyAsync(async () => condition(await ds.RefreshStatusAsync(ct)), what, ct);

    [Fact]
    public Task After_a_failover_the_new_primary_stops_serving_reads_by_weight_and_the_rejoined_old_primary_serves_them() =>
        ClusterTest.WithClusterAsync(output, new LocalPgClusterOptions { Standbys = 2 }, async (cluster, ct) =>
        {
            var (n0, n1, n2) = (cluster.Primary, cluster.Node("n1"), cluster.Node("n2"));
            await n0.ExecuteAsync("CREATE TABLE t (id int PRIMARY KEY)", ct);
            await cluster.WaitForReplicationAsync(cancellationToken: ct);
            await using var fallback = await CreateAsync(cluster, PrimaryReadMode.WhenNoStandby);
            await using var byWeight = await CreateAsync(cluster, PrimaryReadMode.ByWeight);
            await using var never = await CreateAsync(cluster, PrimaryReadMode.Never);

            Assert.Equal("n0:0 n1:30 n2:30", await ReadsPerBackendAsync(fallback));
            Assert.Equal("n0:20 n1:20 n2:20", await ReadsPerBackendAsync(byWeight));
            Assert.Equal("n0:0 n1:30 n2:30", await ReadsPerBackendAsync(never));

            // A read right after a write on the same connection: no standby has replayed it yet (for the default,
            // replay is paused, so that no probe between the write and the read can see a standby past it). The
            // default reads it on the primary; Never waits for a standby to replay it.
            foreach (var (ds, id, onPrimary) in new[] { (fallback, 1, true), (never, 2, false) })
            {
                if (onPrimary)
                {
                    await n1.PauseReplayAsync(ct);
                    await n2.PauseReplayAsync(ct);
                }
                await using var conn = await ds.OpenConnectionAsync(ct);
                await NonQueryAsync(conn, $"INSERT INTO t VALUES ({id})");
                var port = await ServerPortAsync(conn);
                Assert.Equal(onPrimary, port == n0.Port);
                Assert.Equal(1L, await ScalarAsync(conn, $"SELECT count(*) FROM t WHERE id = {id}"));
                if (onPrimary)
                {
                    await n1.ResumeReplayAsync(ct);
                    await n2.ResumeReplayAsync(ct);
                }
            }

            await n0.StopAsync(immediate: true, ct);
            await n1.PromoteAsync(ct);
            await n2.FollowAsync(n1, ct);
            foreach (var ds in new[] { fallback, byWeight, never })
                await WaitUntilAsync(ds, s => s.PrimaryName == "n1" && s["n2"]!.ServesReads, "n1 is the primary and n2 serves reads", ct);
            output.WriteLine(fallback.GetStatus().ToString());

            Assert.Equal("n0:0 n1:0 n2:60", await ReadsPerBackendAsync(fallback));
            Assert.Equal("n0:0 n1:30 n2:30", await ReadsPerBackendAsync(byWeight));
            Assert.Equal("n0:0 n1:0 n2:60", await ReadsPerBackendAsync(never));

            await n0.RejoinAsync(n1, ct);
            foreach (var ds in new[] { fallback, byWeight, never })
                await WaitUntilAsync(ds, s => s["n0"]!.Role == BackendRole.Standby && s["n0"]!.ServesReads, "n0 is back as a standby serving reads", ct);
            output.WriteLine(fallback.GetStatus().ToString());

            // The pools still hold connections n0 closed when it stopped: each costs one read re-run elsewhere (and n0
            // its turn until the next probe round), so the shares are exact once those are gone.
            foreach (var (ds, expected) in new[] { (fallback, "n0:30 n1:0 n2:30"), (byWeight, "n0:20 n1:20 n2:20"), (never, "n0:30 n1:0 n2:30") })
                await ClusterTest.EventuallyAsync(async () => await ReadsPerBackendAsync(ds) == expected, $"{ds.Options.PrimaryServesReads} reads are {expected}", ct);

            // No standby at all: the default and ByWeight read on the primary, Never fails (nothing was sent).
            await n0.StopAsync(immediate: true, ct);
            await n2.StopAsync(immediate: true, ct);
            foreach (var ds in new[] { fallback, byWeight, never })
                await WaitUntilAsync(ds, s => !s["n0"]!.ServesReads && !s["n2"]!.ServesReads, "no standby serves reads", ct);
            Assert.Equal("n0:0 n1:60 n2:0", await ReadsPerBackendAsync(fallback));
            Assert.Equal("n0:0 n1:60 n2:0", await ReadsPerBackendAsync(byWeight));
            var readOnPrimary = never.GetStatus()["n1"]!.ReadCount;
            await using var conn2 = await never.OpenConnectionAsync(ct);
            var e = await Assert.ThrowsAsync<RoutingException>(() => ScalarAsync(conn2, "SELECT count(*) FROM t"));
            Assert.Equal(RoutingFailure.NoStandby, e.Failure);
            Assert.True(e.IsTransient);
            Assert.Contains("PrimaryServesReads = Never", e.Message, StringComparison.Ordinal);
            Assert.Equal(readOnPrimary, never.GetStatus()["n1"]!.ReadCount);
        }, seconds: 120);
}
