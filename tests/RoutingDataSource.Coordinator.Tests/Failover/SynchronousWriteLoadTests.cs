using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

public sealed class SynchronousWriteLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Sync_failover_under_write_load_loses_no_acknowledged_write_and_the_data_source_resumes_by_itself()
    {
        // ANY 1 (n1, n2); the coordinator runs as the least-privilege role of the README, not as a superuser.
        await using var c = await CoordinatedCluster.StartAsync(output, new LocalPgClusterOptions { Standbys = 2, SynchronousReplication = true },
            startCoordinator: false);
        await LeastPrivilege.CreateAsync(c.Cluster);
        foreach (var (b, n) in c.Options.Backends.Zip(c.Cluster.Nodes))
            b.ConnectionString = LeastPrivilege.ConnectionString(n);
        await c.StartCoordinatorAsync();

        var builder = new PgRoutingDataSourceBuilder();
        foreach (var n in c.Cluster.Nodes)
            builder.AddBackend(n.Name, n.ConnectionString, n == c.Cluster.Primary ? 0 : 1);
        builder.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        builder.Options.HealthCheckTimeout = TimeSpan.FromSeconds(1);
        builder.Options.HealthCheckMaxRetries = 2;
        builder.Options.FailoverTimeout = TimeSpan.FromSeconds(15);
        await using var ds = builder.Build();
        await ds.RefreshStatusAsync();

        var acknowledged = new ConcurrentBag<long>();
        long next = 0, afterStop = 0, stoppedAt = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = Interlocked.Increment(ref next);
                try
                {
                    await using var conn = await ds.OpenConnectionAsync(stop.Token);
                    await using var cmd = conn.CreateCommand();
                    cmd.CommandText = $"INSERT INTO t VALUES ({id})";
                    await cmd.ExecuteNonQueryAsync(stop.Token);
                    acknowledged.Add(id);
                    if (Volatile.Read(ref stoppedAt) != 0 && Interlocked.Increment(ref afterStop) >= 200)
                        await stop.CancelAsync();
                }
                catch (Exception e) when (e is RoutingException or NpgsqlException or OperationCanceledException)
                {
                    // In flight when the primary died, or no primary yet: may fail, never hang, never be acknowledged.
                    Interlocked.Increment(ref failed);
                }
            }
        })).ToArray();

        await Task.Delay(1000);
        await c.Cluster.Primary.StopAsync(immediate: true);
        Volatile.Write(ref stoppedAt, clock.ElapsedTicks);
        await Task.WhenAll(writers);

        var view = await c.WaitForViewAsync(v => v.Primary is "n1" or "n2", TimeSpan.FromSeconds(5), "a new primary");
        var promoted = c.Cluster.Node(view.Primary!);
        output.WriteLine($"{acknowledged.Count} writes acknowledged ({afterStop} after the stop), {failed} failed; new primary {promoted.Name}");
        Assert.True(afterStop >= 200, $"the data source resumed only {afterStop} writes");
        var present = await promoted.ScalarAsync<long>($"SELECT count(*) FROM t WHERE id IN ({string.Join(",", acknowledged)})");
        Assert.Equal(acknowledged.Count, present);
        Assert.Equal(promoted.Name, ds.GetStatus().PrimaryName);
        // The guarantee is kept: the new primary waits for the remaining standby.
        var other = c.Cluster.Standbys.Single(s => s != promoted);
        // The old primary takes the promoted standby's place in the list (a standby again once rewound).
        Assert.Equal($"ANY 1 (\"{other.Name}\", \"n0\")", await promoted.ScalarAsync<string>("SHOW synchronous_standby_names"));
        await CoordinatedCluster.WaitForStreamingAsync(promoted, other, TimeSpan.FromSeconds(10));
        Assert.Equal(1L, await promoted.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{other.SlotName}'"));
    }
}
