using System.Diagnostics;
using System.Globalization;
using RoutingDataSource.Coordinator.Cluster;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Failover;

/// <summary>
/// PostgreSQL 15 can hold a promotion back by up to the standby's <c>wal_retrieve_retry_interval</c>: when the
/// promote request reaches the startup process while it is starting a new WAL receiver (requested, not yet running),
/// it ends that attempt and sleeps out the rest of the interval before it looks at the request again, and the signal
/// that would have woken it was spent on the wait it just left. The coordinator's own reload (synchronous_standby_names
/// is set on the candidate just before pg_promote) starts such an attempt, so with synchronous replication about one
/// promotion in three fell into it. (Every failover, automatic or manual, now first cuts the standbys off the old
/// primary, which leaves them nothing to start a WAL receiver for; a manual failover of a dead primary, which used
/// not to, now takes the automatic path's checks, so the automatic path is the one run here, and the wake-ups of
/// ServerActions.PromoteAsync stay as a second line.) With a 30 s interval a trapped promotion takes about 30 s, a
/// prompt one a few ms (read from the promoted server's own log), so the check below cannot flake on time; ten
/// failovers in a row (the old primary rejoined each time) catch the trap all but certainly.
/// </summary>
public sealed class PromptPromotionTests(ITestOutputHelper output)
{
    private const int Failovers = 10;

    [Fact]
    public async Task Promotions_are_not_held_back_by_the_standbys_retry_interval()
    {
        var options = new LocalPgClusterOptions
        {
            Standbys = 2,
            SynchronousReplication = true,
            ExtraSettings = { "wal_retrieve_retry_interval = '30s'" },
        };
        await using var c = await CoordinatedCluster.StartAsync(output, options, (o, _) =>
        {
            o.ProbeInterval = TimeSpan.FromMilliseconds(300);
            o.RetryInterval = TimeSpan.FromMilliseconds(150);
            o.FailureThreshold = 2;
            o.PromoteTimeout = TimeSpan.FromSeconds(40);
        });

        var primary = c.Cluster.Primary;
        var delays = new List<TimeSpan>();
        for (var failover = 1; failover <= Failovers; failover++)
        {
            var clock = Stopwatch.StartNew();
            await primary.StopAsync(immediate: true);
            // With the trap, the promotion ends some 30 s later.
            var (promoted, at) = await c.WaitForWritableAsync(clock, primary, TimeSpan.FromSeconds(60), id: failover);
            var delay = PromotionDelay(promoted);
            delays.Add(delay);
            output.WriteLine($"failover {failover}: {promoted.Name} accepted a write {at.TotalMilliseconds:0} ms after {primary.Name} stopped; promote request to new timeline {delay.TotalMilliseconds:0} ms");

            await primary.RejoinAsync(promoted);
            foreach (var standby in c.Cluster.Nodes.Where(n => n != promoted))
                await CoordinatedCluster.WaitForStreamingAsync(promoted, standby, TimeSpan.FromSeconds(15));
            await c.WaitForViewAsync(v => v.Primary == promoted.Name && v.Members.All(m => m.State == MemberState.Up), TimeSpan.FromSeconds(10), "every member up under the new primary");
            primary = promoted;
        }

        Assert.True(c.Logging.Contains("has wal_retrieve_retry_interval = 30000 ms"), "no warning about the standbys' 30 s retry interval");
        var all = string.Join(", ", delays.Select(d => d.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)));
        Assert.True(delays.All(d => d < TimeSpan.FromSeconds(5)), $"promote request to new timeline, per failover (ms): {all}; wal_retrieve_retry_interval is 30 s");
    }

    // From the server's own log (log_line_prefix starts with %m): its latest promote request and the new timeline after it.
    private static TimeSpan PromotionDelay(LocalPgNode promoted)
    {
        var lines = promoted.ReadLogTail(20_000).Split('\n');
        var request = Array.FindLastIndex(lines, l => l.Contains("received promote request", StringComparison.Ordinal));
        var timeline = request < 0 ? -1 : Array.FindIndex(lines, request, l => l.Contains("selected new timeline ID", StringComparison.Ordinal));
        Assert.True(timeline > request && request >= 0, $"No promote request followed by a new timeline in {promoted.Name}'s log:\n{string.Join('\n', lines.TakeLast(40))}");
        return LoggedAt(lines[timeline]) - LoggedAt(lines[request]);
    }

    private static DateTime LoggedAt(string line) => DateTime.ParseExact(line[..23], "yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
}
