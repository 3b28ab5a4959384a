using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using Xunit.Abstractions;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Lag;

/// <summary>Lag tracking, lag-aware reads and read-your-writes, with lag made deterministic by pausing replay.</summary>
public sealed class ReadYourWritesTests(LagClusterFixture fx, ITestOutputHelper output) : IClassFixture<LagClusterFixture>, IAsyncLifetime
{
    private static long _nextId = 1000;

    private LocalPgNode N1 => fx.Cluster.Node("n1");

    private LocalPgNode N2 => fx.Cluster.Node("n2");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => fx.CatchUpAsync();

    private Task<PgRoutingDataSource> CreateAsync(Action<PgRoutingDataSourceBuilder>? configure = null)
        => TestDataSources.CreateAsync(fx.Cluster, configure);

    private static async Task<long> InsertAsync(PgRoutingDataSource ds, RoutingConnection? conn = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        if (conn is null)
        {
            await using var c = await ds.OpenConnectionAsync();
            await NonQueryAsync(c, $"INSERT INTO ryw VALUES ({id}, 'x')");
        }
        else
        {
            await NonQueryAsync(conn, $"INSERT INTO ryw VALUES ({id}, 'x')");
        }
        return id;
    }

    [Fact]
    public async Task DataSource_scope_reads_from_new_connections_see_a_write_every_time_and_skip_the_paused_standby()
    {
        await using var ds = await CreateAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.DataSource);
        await N2.PauseReplayAsync();
        var id = await InsertAsync(ds);
        var seen = 0;
        for (var i = 0; i < 100; i++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            seen += Convert.ToInt32(await ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        }
        var s = ds.GetStatus();
        output.WriteLine($"DataSource scope, n2 paused: {seen}/100 reads saw the row; reads n0={s["n0"]!.ReadCount} n1={s["n1"]!.ReadCount} n2={s["n2"]!.ReadCount}");
        Assert.Equal(100, seen);
        Assert.NotEqual(0, ds.LastWrite);
        Assert.Equal(0, s["n2"]!.ReadCount);
        Assert.Equal(100, s["n0"]!.ReadCount + s["n1"]!.ReadCount);
    }

    [Fact]
    public async Task Connection_scope_sees_its_own_write_while_other_connections_may_use_the_lagging_standby()
    {
        await using var ds = await CreateAsync(); // default scope: Connection
        Assert.Equal(ReadYourWritesScope.Connection, ds.Options.ReadYourWrites);
        await N2.PauseReplayAsync();
        await using var writer = await ds.OpenConnectionAsync();
        var id = await InsertAsync(ds, writer);
        var own = 0;
        for (var i = 0; i < 50; i++)
            own += Convert.ToInt32(await ScalarAsync(writer, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var afterOwn = ds.GetStatus();
        Assert.Equal(50, own);
        Assert.Equal(0, afterOwn["n2"]!.ReadCount);

        await using var other = await ds.OpenConnectionAsync();
        for (var i = 0; i < 50; i++)
            await ScalarAsync(other, $"SELECT count(*) FROM ryw WHERE id = {id}");
        var s = ds.GetStatus();
        output.WriteLine($"Connection scope: own connection 50/50 saw its write (n0={afterOwn["n0"]!.ReadCount}, n1={afterOwn["n1"]!.ReadCount}, n2=0); other connection's reads went n0={s["n0"]!.ReadCount - afterOwn["n0"]!.ReadCount} n1={s["n1"]!.ReadCount - afterOwn["n1"]!.ReadCount} n2={s["n2"]!.ReadCount}");
        Assert.True(s["n2"]!.ReadCount > 0, "other connections are not held back by this connection's write");
        Assert.Equal(afterOwn["n0"]!.ReadCount, s["n0"]!.ReadCount);
        // No write to the data source's shared mark in this scope: nothing reads it, and every writer would contend on it.
        Assert.Equal(0, ds.LastWrite);
    }

    [Fact]
    public async Task Standby_over_the_byte_limit_gets_no_reads_until_it_is_back_under()
    {
        var interval = TimeSpan.FromMilliseconds(250);
        await using var ds = await CreateAsync(b =>
        {
            b.Options.MaxReplicationLagBytes = 64 * 1024;
            b.Options.HealthCheckInterval = interval;
            b.Options.ReadYourWrites = ReadYourWritesScope.None;
        });
        await N2.PauseReplayAsync();
        await fx.Cluster.Primary.ExecuteAsync("INSERT INTO ryw SELECT g, repeat('p', 200) FROM generate_series(100000, 105000) g");
        await WaitUntilAsync(ds, s => s["n2"]!.LagBytes > 64 * 1024 && !s["n2"]!.ServesReads);
        var lagged = ds.GetStatus()["n2"]!;
        output.WriteLine($"n2 paused: lag {lagged.LagBytes} bytes, replay paused={lagged.ReplayPaused}, reason: {lagged.Reason}");
        Assert.Equal(true, lagged.ReplayPaused);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 50; i++)
                await ScalarAsync(conn, "SELECT 1");
        }
        Assert.Equal(0, ds.GetStatus()["n2"]!.ReadCount);

        await N2.ResumeReplayAsync();
        var resumed = DateTime.UtcNow;
        await WaitUntilAsync(ds, s => s["n2"]!.ServesReads);
        var back = DateTime.UtcNow - resumed;
        output.WriteLine($"n2 serves reads again {back.TotalMilliseconds:0} ms after resume (health-check interval {interval.TotalMilliseconds} ms)");
        Assert.True(back <= 2 * interval + TimeSpan.FromSeconds(1), $"took {back}");
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 50; i++)
                await ScalarAsync(conn, "SELECT 1");
        }
        Assert.True(ds.GetStatus()["n2"]!.ReadCount > 0);
    }

    [Fact]
    public async Task Least_lag_preference_sends_reads_to_the_standby_that_is_ahead()
    {
        await using var ds = await CreateAsync(b =>
        {
            b.Options.PreferLowerLagStandby = true;
            b.Options.ReadYourWrites = ReadYourWritesScope.None;
        });
        await N2.PauseReplayAsync();
        await fx.Cluster.Primary.ExecuteAsync("INSERT INTO ryw SELECT g, 'q' FROM generate_series(200000, 200100) g");
        await WaitUntilAsync(ds, s => s["n2"]!.LagBytes > 0 && s["n1"]!.LagBytes == 0);
        await using var conn = await ds.OpenConnectionAsync();
        for (var i = 0; i < 30; i++)
            await ScalarAsync(conn, "SELECT 1");
        var st = ds.GetStatus();
        Assert.Equal(30, st["n1"]!.ReadCount);
        Assert.Equal(0, st["n2"]!.ReadCount);
    }

    [Fact]
    public async Task Causality_token_carries_a_write_across_two_data_source_instances()
    {
        await using var writerDs = await CreateAsync();
        await using var readerDs = await CreateAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await N1.PauseReplayAsync();
        await N2.PauseReplayAsync();
        string token;
        long id;
        await using (var w = await writerDs.OpenConnectionAsync())
        {
            id = await InsertAsync(writerDs, w);
            token = w.GetCausalityToken();
        }
        await using (var plain = await readerDs.OpenConnectionAsync())
            Assert.Equal(0L, await ScalarAsync(plain, $"SELECT count(*) FROM ryw WHERE id = {id}")); // stale standby
        await using (var withToken = await readerDs.OpenConnectionAsync(token))
            Assert.Equal(1L, await ScalarAsync(withToken, $"SELECT count(*) FROM ryw WHERE id = {id}")); // primary
        var before = readerDs.GetStatus();
        Assert.Equal(1, before["n0"]!.ReadCount);

        await N1.ResumeReplayAsync();
        await N2.ResumeReplayAsync();
        await fx.Cluster.WaitForReplicationAsync();
        await readerDs.RefreshStatusAsync();
        await using (var withToken = await readerDs.OpenConnectionAsync(token))
            Assert.Equal(1L, await ScalarAsync(withToken, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        Assert.Equal(1, readerDs.GetStatus()["n0"]!.ReadCount); // caught-up standbys serve the token's reads
        await Assert.ThrowsAsync<ArgumentException>(async () => await readerDs.OpenConnectionAsync("not-a-token"));
    }

    [Fact]
    public async Task Read_your_writes_wait_lets_a_standby_serve_once_it_catches_up()
    {
        await using var ds = await CreateAsync(b =>
        {
            b.Options.ReadYourWritesWait = TimeSpan.FromSeconds(5);
            b.Options.HealthCheckInterval = TimeSpan.FromSeconds(2);
        });
        await using var conn = await ds.OpenConnectionAsync();
        var id = await InsertAsync(ds, conn);
        Assert.Equal(1L, await ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var s = ds.GetStatus();
        Assert.Equal(0, s["n0"]!.ReadCount); // waited for a standby instead of reading the primary
        Assert.Equal(1, s["n1"]!.ReadCount + s["n2"]!.ReadCount);
    }

    private static async Task WaitUntilAsync(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition(await ds.RefreshStatusAsync(cts.Token)))
            await Task.Delay(50, cts.Token);
    }
}
