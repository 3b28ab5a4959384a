using System.Diagnostics;
using Npgsql;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Failover;

/// <summary>
/// Stand-in for the failover coordinator while it is not available: probes the primary every second with a fresh
/// connection (pgpool's health_check_period = 1, health_check_max_retries = 0) and, at the first failed probe, promotes
/// the standby with the highest received/replayed WAL position (what pgpool's failover script does too). Results
/// produced with it are labelled "promotion by harness, not coordinator".
/// </summary>
internal sealed class HarnessPromoter : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private HarnessPromoter(LocalPgCluster cluster, TimeSpan period) => _loop = Task.Run(() => RunAsync(cluster, period, _stop.Token));

    /// <summary>When the first probe failed (Stopwatch timestamp), or 0.</summary>
    public long DetectedAt { get; private set; }

    /// <summary>When the promoted standby accepted writes (Stopwatch timestamp), or 0.</summary>
    public long PromotedAt { get; private set; }

    /// <summary>The standby chosen for promotion, once chosen.</summary>
    public string? PromotedNode { get; private set; }

    public string? Error { get; private set; }

    public static HarnessPromoter Start(LocalPgCluster cluster, TimeSpan period) => new(cluster, period);

    public async ValueTask DisposeAsync()
    {
        // A promotion under way is let finish (bounded below): a half-promoted standby helps nobody.
        if (DetectedAt == 0)
            await _stop.CancelAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            // Stopped while waiting, or a promotion that hangs: the cluster's disposal stops the servers anyway.
        }

        _stop.Dispose();
    }

    private async Task RunAsync(LocalPgCluster cluster, TimeSpan period, CancellationToken cancellationToken)
    {
        // A random phase, as a coordinator or pgpool started at some earlier moment has.
        await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next((int)period.TotalMilliseconds)), cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await ProbeAsync(cluster.Primary, cancellationToken))
            {
                DetectedAt = Stopwatch.GetTimestamp();
                try
                {
                    var best = await MostAdvancedStandbyAsync(cluster, cancellationToken);
                    PromotedNode = best.Name;
                    await best.PromoteAsync(cancellationToken);
                    PromotedAt = Stopwatch.GetTimestamp();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Error = $"{e.GetType().Name}: {e.Message}";
                }

                return;
            }

            await Task.Delay(period, cancellationToken);
        }
    }

    private static async Task<bool> ProbeAsync(LocalPgNode node, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = new NpgsqlConnection(node.ConnectionStringWith(b =>
            {
                b.Pooling = false;
                b.Timeout = 1;
                b.CommandTimeout = 1;
                b.ApplicationName = "bench-harness-promoter";
            }));
            await conn.OpenAsync(cancellationToken);
            await using var cmd = new NpgsqlCommand("SELECT 1", conn);
            await cmd.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
        {
            return false;
        }
    }

    private static async Task<LocalPgNode> MostAdvancedStandbyAsync(LocalPgCluster cluster, CancellationToken cancellationToken)
    {
        LocalPgNode? best = null;
        var bestPosition = -1L;
        foreach (var node in cluster.Standbys)
        {
            try
            {
                var position = await node.ScalarAsync<long>(
                    "SELECT pg_wal_lsn_diff(greatest(coalesce(pg_last_wal_receive_lsn(), '0/0'), coalesce(pg_last_wal_replay_lsn(), '0/0')), '0/0')::bigint",
                    cancellationToken);
                if (position > bestPosition)
                    (best, bestPosition) = (node, position);
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                // A standby that does not answer is no candidate.
            }
        }

        return best ?? throw new InvalidOperationException("No standby answered: nothing to promote.");
    }
}
