using System.Collections.Concurrent;
using System.Diagnostics;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Agent;

/// <summary>Planned switchovers through the agents: clean shutdown, proof of the shutdown checkpoint, promotion, the old primary following without a rewind.</summary>
public sealed class SwitchoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_switchover_under_write_load_loses_no_acknowledged_write_and_the_old_primary_follows_without_a_rewind_then_fails_back()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true }, agents: true);
        var old = c.Cluster.Primary;
        var candidate = c.Cluster.Standbys[0];
        await using var ds = DataSource(c.Cluster);
        using var stopWriting = new CancellationTokenSource();
        var acknowledged = new ConcurrentQueue<(long Id, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        var writer = WriteAsync(ds, acknowledged, clock, stopWriting.Token);
        await WaitForAsync(() => acknowledged.Count >= 50, "writes flow");

        var (code, text) = await BuiltProgram.RunAsync(Bound, "switchover", "--to", candidate.Name, "--url", c.Host!.Address.ToString());
        output.WriteLine(text);
        Assert.Equal(0, code);
        var view = await c.WaitForViewAsync(v => v.Find(old.Name)!.Agent is { } a && (a.StartsWith("demoted", StringComparison.Ordinal) || a.Contains("failed", StringComparison.Ordinal)), Bound, $"{old.Name} follows");
        Assert.StartsWith($"demoted: streams from {candidate.Name} (no rewind)", view.Find(old.Name)!.Agent, StringComparison.Ordinal);
        var count = acknowledged.Count;
        await WaitForAsync(() => acknowledged.Count >= count + 50, "writes flow after the switchover");

        // Failback: the old primary is a caught-up standby again, so it can take the primary's place back.
        (code, text) = await BuiltProgram.RunAsync(Bound, "switchover", "--to", old.Name, "--url", c.Host!.Address.ToString());
        output.WriteLine(text);
        Assert.Equal(0, code);
        view = await c.WaitForViewAsync(v => v.Primary == old.Name && v.Find(candidate.Name)!.Agent?.StartsWith("demoted", StringComparison.Ordinal) == true, Bound, "failed back");
        count = acknowledged.Count;
        await WaitForAsync(() => acknowledged.Count >= count + 50, "writes flow after the failback");
        await stopWriting.CancelAsync();
        await writer;

        var ids = acknowledged.Select(a => a.Id).ToArray();
        var present = await old.ScalarAsync<long>($"SELECT count(*) FROM t WHERE id = ANY(ARRAY[{string.Join(',', ids)}]::bigint[])");
        Assert.Equal(ids.Length, present);
        var gap = acknowledged.Select(a => a.At).Order().Zip(acknowledged.Select(a => a.At).Order().Skip(1), (a, b) => b - a).Max();
        output.WriteLine($"{ids.Length} acknowledged writes, all on {old.Name} after the failback; longest gap between two acknowledged writes {gap.TotalMilliseconds:0} ms");
        await CoordinatedCluster.WaitForStreamingAsync(old, candidate, TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("pg_rewind", c.Agents!.OutputOf(old.Name), StringComparison.Ordinal);
        Assert.DoesNotContain("pg_rewind", c.Agents!.OutputOf(candidate.Name), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_switchover_to_a_standby_that_is_not_synchronous_is_refused_and_nothing_changes()
    {
        await using var c = await CoordinatedCluster.StartAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousStandbyNames = "FIRST 1 (n1)" }, agents: true);
        var primary = c.Cluster.Primary;
        var pid = primary.ProcessId;

        var (code, text) = await BuiltProgram.RunAsync(Bound, "switchover", "--to", "n2", "--url", c.Host!.Address.ToString());

        Assert.Equal(1, code);
        Assert.Contains("n2 is not synchronous", text, StringComparison.Ordinal);
        Assert.Contains("nothing changed", text, StringComparison.Ordinal);
        Assert.Equal(pid, primary.ProcessId);
        Assert.False(await primary.IsInRecoveryAsync());
        Assert.Equal(primary.Name, c.View.Primary);
        Assert.Equal("FIRST 1 (n1)", await primary.ScalarAsync<string>("SHOW synchronous_standby_names"));
    }

    [Fact]
    public async Task A_switchover_to_a_standby_that_lags_beyond_the_bound_is_refused_and_nothing_changes()
    {
        FaultProxy? proxy = null;
        // The coordinator starts once the laggard streams through the proxy: started before, it repoints a standby it
        // sees not streaming (the seconds its WAL receiver takes to reconnect through the proxy) straight back.
        await using var c = await CoordinatedCluster.StartAsync(output, agents: true, configure: (o, _) => o.SwitchoverMaxLagBytes = 1 << 20,
            startCoordinator: false);
        var primary = c.Cluster.Primary;
        var laggard = c.Cluster.Standbys[1];
        try
        {
            proxy = FaultProxy.For(primary);
            await CoordinatedCluster.StreamThroughAsync(laggard, primary, proxy);
            await c.StartCoordinatorAsync();
            proxy.Blackhole(); // it receives nothing more
            await primary.ExecuteAsync("INSERT INTO t SELECT g FROM generate_series(1, 50000) g");
            await c.WaitForViewAsync(v => v.Find(laggard.Name)!.LagBytes > 1 << 20, Bound, $"{laggard.Name} lags");
            var pid = primary.ProcessId;

            var (code, text) = await BuiltProgram.RunAsync(Bound, "switchover", "--to", laggard.Name, "--url", c.Host!.Address.ToString());

            Assert.Equal(1, code);
            Assert.Contains($"{laggard.Name} lags", text, StringComparison.Ordinal);
            Assert.Contains("more than SwitchoverMaxLagBytes (1048576); nothing changed", text, StringComparison.Ordinal);
            Assert.Equal(pid, primary.ProcessId);
            Assert.False(await primary.IsInRecoveryAsync());
            Assert.Equal(primary.Name, c.View.Primary);
        }
        finally
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
        }
    }

    private static PgRoutingDataSource DataSource(LocalPgCluster cluster)
    {
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var n in cluster.Nodes)
            builder.AddBackend(n.Name, n.ConnectionString, 1);
        builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        builder.Options.FailoverTimeout = TimeSpan.FromSeconds(15);
        return builder.Build();
    }

    /// <summary>Inserts one row after another; an id is acknowledged when its INSERT returned (a failed one may or may not have committed, and is not counted).</summary>
    private static async Task WriteAsync(PgRoutingDataSource ds, ConcurrentQueue<(long, TimeSpan)> acknowledged, Stopwatch clock, CancellationToken stop)
    {
        for (long id = 10_000; !stop.IsCancellationRequested; id++)
        {
            try
            {
                await using var conn = await ds.OpenConnectionAsync(stop);
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = $"INSERT INTO t VALUES ({id})";
                await cmd.ExecuteNonQueryAsync(stop);
                acknowledged.Enqueue((id, clock.Elapsed));
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException or OperationCanceledException)
            {
                await Task.Delay(10, CancellationToken.None);
            }
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Bound)
                throw new TimeoutException($"Not within {Bound.TotalSeconds:0} s: {what}");
            await Task.Delay(20);
        }
    }
}
