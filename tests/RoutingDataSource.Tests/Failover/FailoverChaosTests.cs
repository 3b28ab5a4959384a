using System.Collections.Concurrent;
using System.Diagnostics;
using RoutingDataSource.Connections;
using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using Xunit.Abstractions;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Failover;

/// <summary>
/// Chaos on real clusters (each test owns its cluster; the test itself stops, freezes and promotes servers, not the
/// coordinator). Every loop is bounded in count and time.
/// </summary>
public sealed class FailoverChaosTests(ITestOutputHelper output)
{
    private static Task<PgRoutingDataSource> CreateAsync(LocalPgCluster cluster, Action<PgRoutingDataSourceBuilder>? configure = null)
        => TestDataSources.CreateAsync(cluster, b =>
        {
            b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            b.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
            b.Options.HealthCheckMaxRetries = 2;
            b.Options.FailoverTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(b);
        }, primaryWeight: 0);

    /// <summary>8 callers reading for <paramref name="duration"/> while <paramref name="chaos"/> runs; returns (ok, failed).</summary>
    private async Task<(int Ok, List<Exception> Failed)> ReadLoopAsync(PgRoutingDataSource ds, TimeSpan duration, Func<Task> chaos)
    {
        var ok = 0;
        var failed = new ConcurrentBag<Exception>();
        using var stop = new CancellationTokenSource(duration);
        var readers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var conn = await ds.OpenConnectionAsync();
                    await ScalarAsync(conn, "SELECT count(*) FROM t");
                    Interlocked.Increment(ref ok);
                }
                catch (Exception e)
                {
                    failed.Add(e);
                }
            }
        })).ToArray();
        await Task.Delay(300);
        await chaos();
        await Task.WhenAll(readers);
        return (ok, failed.ToList());
    }

    private static async Task<LocalPgCluster> StartAsync(bool synchronous = false)
    {
        var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = synchronous });
        await cluster.Primary.ExecuteAsync("CREATE TABLE t (id bigint PRIMARY KEY)");
        await cluster.WaitForReplicationAsync();
        return cluster;
    }

    [Fact]
    public async Task Stopping_a_standby_under_a_read_load_fails_no_read()
    {
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster);
        var (ok, failed) = await ReadLoopAsync(ds, TimeSpan.FromSeconds(4), () => cluster.Node("n2").StopAsync(immediate: true));
        output.WriteLine($"standby stopped: {ok} reads ok, {failed.Count} failed; status:\n{ds.GetStatus()}");
        Assert.Empty(failed);
        Assert.True(ok > 100);
        Assert.False((await ds.RefreshStatusAsync())["n2"]!.ServesReads);
    }

    [Fact]
    public async Task Stopping_the_primary_under_a_read_load_fails_no_read()
    {
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster);
        var (ok, failed) = await ReadLoopAsync(ds, TimeSpan.FromSeconds(4), () => cluster.Primary.StopAsync(immediate: true));
        output.WriteLine($"primary stopped: {ok} reads ok, {failed.Count} failed");
        Assert.Empty(failed);
        Assert.True(ok > 100);
    }

    [Fact]
    public async Task Writes_resume_after_promotion_and_no_acknowledged_write_is_lost()
    {
        await using var cluster = await StartAsync(synchronous: true);
        await using var ds = await CreateAsync(cluster);
        var acknowledged = new ConcurrentBag<long>();
        long next = 0;
        long promotedAt = 0;
        long firstWriteAfterPromotion = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = Interlocked.Increment(ref next);
                try
                {
                    await using var conn = await ds.OpenConnectionAsync();
                    await NonQueryAsync(conn, $"INSERT INTO t VALUES ({id})");
                    acknowledged.Add(id);
                    if (Volatile.Read(ref promotedAt) != 0 && Interlocked.CompareExchange(ref firstWriteAfterPromotion, clock.ElapsedTicks, 0) == 0)
                        await stop.CancelAsync();
                }
                catch (RoutingException)
                {
                    // Writes in flight when the primary died, or while waiting for a new one: allowed to fail, never to hang.
                }
            }
        });
        await Task.Delay(500);
        await cluster.Primary.StopAsync(immediate: true);
        // Promote the most advanced standby, as the coordinator does: with ANY 1 (n1, n2) either may hold the last
        // acknowledged commits, and the other must be able to follow it.
        var (winner, follower) = await MostAdvancedFirstAsync(cluster.Node("n1"), cluster.Node("n2"));
        await winner.PromoteAsync();
        // Synchronous replication: the new primary can commit once a standby streams from it (the coordinator's job).
        await follower.FollowAsync(winner);
        Volatile.Write(ref promotedAt, clock.ElapsedTicks);
        await writer;
        Assert.NotEqual(0, firstWriteAfterPromotion);
        var resume = TimeSpan.FromTicks((long)((firstWriteAfterPromotion - promotedAt) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
        output.WriteLine($"first write on the new primary {resume.TotalMilliseconds:0} ms after promotion and repointing; {acknowledged.Count} writes acknowledged");
        Assert.True(resume < TimeSpan.FromSeconds(1), $"writes resumed {resume.TotalMilliseconds:0} ms after promotion");
        var onNewPrimary = (await winner.ScalarAsync<long>($"SELECT count(*) FROM t WHERE id IN ({string.Join(",", acknowledged)})"));
        Assert.Equal(acknowledged.Count, onNewPrimary);
        Assert.Equal(winner.Name, ds.GetStatus().PrimaryName);
    }

    [Fact]
    public async Task A_write_stuck_on_a_frozen_primary_is_abandoned_as_soon_as_another_server_is_the_primary()
    {
        await using var cluster = await StartAsync();
        // Slow failure detection: the frozen primary stays "up" in the data source's view for half a minute.
        await using var ds = await CreateAsync(cluster, b =>
        {
            b.Options.HealthCheckTimeout = TimeSpan.FromSeconds(10);
            b.Options.HealthCheckMaxRetries = 3;
            b.Options.FailoverTimeout = TimeSpan.FromSeconds(30);
        });
        var old = cluster.Primary;
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "INSERT INTO t VALUES (1)"); // a pooled connection to the primary, ready to use
        await old.FreezeAsync();
        try
        {
            var write = NonQueryAsync(conn, "INSERT INTO t VALUES (2)");
            await Task.Delay(300);
            Assert.False(write.IsCompleted);
            await cluster.Node("n1").PromoteAsync();
            var e = await Assert.ThrowsAsync<RoutingException>(() => write);
            // Given up because n1 became the primary (the frozen n0, on the older timeline, is fenced), not because the
            // monitor found n0 down: its health checks, 10 s each, have not failed three times yet.
            Assert.Equal(BackendState.Fenced, ds.GetStatus()["n0"]!.State);
            Assert.Equal("n1", ds.GetStatus().PrimaryName);
            Assert.Equal(RoutingFailure.ConnectionLost, e.Failure);
            Assert.True(e.MayHaveCommitted);
        }
        finally
        {
            await old.ThawAsync();
        }
    }

    private static async Task<(LocalPgNode Winner, LocalPgNode Follower)> MostAdvancedFirstAsync(LocalPgNode a, LocalPgNode b)
    {
        const string received = "SELECT pg_last_wal_receive_lsn() - '0/0'::pg_lsn";
        var la = await a.ScalarAsync<decimal>(received);
        var lb = await b.ScalarAsync<decimal>(received);
        return la >= lb ? (a, b) : (b, a);
    }

    [Fact]
    public async Task A_frozen_primary_makes_writes_fail_or_resume_within_the_bound_never_hang()
    {
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "INSERT INTO t VALUES (-1)");
        await cluster.Primary.FreezeAsync();
        try
        {
            await AssertWriteEndsWithinBoundAsync(ds, conn, -2);

            // A new write does not hang either: it waits for a primary and fails after FailoverTimeout at most.
            var next = await Record.ExceptionAsync(() => NonQueryAsync(conn, "INSERT INTO t VALUES (-3)").WaitAsync(ds.Options.FailoverTimeout + TimeSpan.FromSeconds(5)));
            Assert.Equal(RoutingFailure.NoPrimary, Assert.IsType<RoutingException>(next).Failure);
        }
        finally
        {
            await cluster.Primary.ThawAsync();
        }
    }

    [Fact]
    public async Task A_primary_frozen_again_after_it_recovered_still_cannot_hang_a_write()
    {
        // The statement waits stay registered on the backend's abort token while pooled. The first freeze fires that
        // token and the backend gets a new one: waits pooled before it must register on the new one when next used, or
        // the second freeze cannot release the write it catches (this test then times out at 30 s).
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster);
        for (var round = 1; round <= 2; round++)
        {
            // Concurrent writes leave several waits in the backend's pool: the frozen write below takes one of them.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
            {
                await using var c = await ds.OpenConnectionAsync();
                for (var j = 0; j < 5; j++)
                    await NonQueryAsync(c, $"INSERT INTO t VALUES ({(round * 100) + (i * 10) + j})");
            }));
            await using var conn = await ds.OpenConnectionAsync();
            await cluster.Primary.FreezeAsync();
            try
            {
                await AssertWriteEndsWithinBoundAsync(ds, conn, round * 100 + 99);
            }
            finally
            {
                await cluster.Primary.ThawAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var status = await ds.RefreshStatusAsync(timeout.Token);
            while (status.PrimaryName != cluster.Primary.Name || status[cluster.Primary.Name]!.State != BackendState.Up)
            {
                await Task.Delay(100, timeout.Token);
                status = await ds.RefreshStatusAsync(timeout.Token);
            }
        }
        await using var after = await ds.OpenConnectionAsync();
        Assert.Equal(1, await NonQueryAsync(after, "INSERT INTO t VALUES (1000)"));
    }

    // A write sent to the frozen primary ends as ConnectionLost (it may have committed) within the monitor's bound.
    private async Task AssertWriteEndsWithinBoundAsync(PgRoutingDataSource ds, RoutingConnection conn, int value)
    {
        var o = ds.Options;
        var bound = o.HealthCheckTimeout * (o.HealthCheckMaxRetries + 1) + TimeSpan.FromSeconds(1);
        var clock = Stopwatch.StartNew();
        var e = await Record.ExceptionAsync(() => NonQueryAsync(conn, $"INSERT INTO t VALUES ({value})").WaitAsync(TimeSpan.FromSeconds(30)));
        clock.Stop();
        output.WriteLine($"write against a frozen primary ended after {clock.ElapsedMilliseconds} ms (bound {bound.TotalMilliseconds} ms): {e?.GetType().Name}: {e?.Message}");
        Assert.True(clock.Elapsed <= bound, $"took {clock.Elapsed}");
        var re = Assert.IsType<RoutingException>(e);
        Assert.Equal(RoutingFailure.ConnectionLost, re.Failure);
        Assert.True(re.MayHaveCommitted);
    }

    [Fact]
    public async Task An_old_primary_restarted_after_promotion_gets_no_statement_and_status_says_why()
    {
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster, b => b.Options.FailoverTimeout = TimeSpan.FromSeconds(10));
        var oldPrimary = cluster.Primary;
        await oldPrimary.StopAsync(immediate: true);
        await cluster.Node("n1").PromoteAsync();
        // A write sent right now could meet an idle pooled connection to the dead n0 before any probe noticed, and
        // would then fail as ConnectionLost (it cannot be known not to have run): wait for the monitor instead.
        var seen = await ds.RefreshStatusAsync();
        while (seen.PrimaryName != "n1")
            seen = await ds.RefreshStatusAsync();
        await using (var conn = await ds.OpenConnectionAsync())
            await NonQueryAsync(conn, "INSERT INTO t VALUES (1)");
        var before = ds.GetStatus()["n0"]!;
        await oldPrimary.StartAsync(); // comes back as a primary on timeline 1
        var status = await ds.RefreshStatusAsync();
        while (status["n0"]!.State != BackendState.Fenced)
            status = await ds.RefreshStatusAsync();
        for (var i = 0; i < 30; i++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            await NonQueryAsync(conn, $"INSERT INTO t VALUES ({100 + i})");
            await ScalarAsync(conn, "SELECT count(*) FROM t");
        }
        var n0 = ds.GetStatus()["n0"]!;
        output.WriteLine(ds.GetStatus().ToString());
        Assert.Equal(BackendState.Fenced, n0.State);
        Assert.Contains("timeline", n0.Reason, StringComparison.Ordinal);
        Assert.Equal(before.ReadCount, n0.ReadCount);
        Assert.Equal(before.WriteCount, n0.WriteCount);
        Assert.Equal("n1", ds.GetStatus().PrimaryName);
    }

    [Fact]
    public async Task Primary_dying_inside_a_transaction_raises_transaction_lost_and_ExecuteAsync_commits_exactly_once()
    {
        await using var cluster = await StartAsync();
        await using var ds = await CreateAsync(cluster);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            await using var tx = await conn.BeginTransactionAsync();
            await NonQueryAsync(conn, "INSERT INTO t VALUES (1)");
            await cluster.Primary.StopAsync(immediate: true);
            var clock = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<RoutingException>(() => NonQueryAsync(conn, "INSERT INTO t VALUES (2)"));
            output.WriteLine($"in-transaction failure after {clock.ElapsedMilliseconds} ms: {e.Failure}: {e.Message}");
            Assert.Equal(RoutingFailure.TransactionLost, e.Failure);
            Assert.Equal("n0", e.BackendName);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));
        }

        var runs = 0;
        var promote = Task.Run(async () =>
        {
            await Task.Delay(500);
            await cluster.Node("n1").PromoteAsync();
        });
        await ds.ExecuteAsync(async (conn, ct) =>
        {
            Interlocked.Increment(ref runs);
            await NonQueryAsync(conn, "INSERT INTO t VALUES (42)");
        });
        await promote;
        output.WriteLine($"ExecuteAsync ran the unit {runs} time(s)");
        Assert.Equal(1L, await cluster.Node("n1").ScalarAsync<long>("SELECT count(*) FROM t WHERE id = 42"));
    }
}
