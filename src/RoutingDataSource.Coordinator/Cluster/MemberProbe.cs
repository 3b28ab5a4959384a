using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>What the coordinator needs beyond the shared probe: the sync setting and the WAL receiver's sender.</summary>
/// <remarks><see cref="FencedReadOnly"/>: <c>default_transaction_read_only</c> is on through postgresql.auto.conf (ALTER SYSTEM), as the coordinator's read-only fence leaves it.</remarks>
internal sealed record MemberDetails(string? SynchronousStandbyNames, string? SenderHost, int? SenderPort, string? ReceiverStatus, int? WalReceiverTimeoutMs, int? WalRetrieveRetryIntervalMs,
    bool FencedReadOnly = false);

/// <summary>One probe of one member: the shared <see cref="BackendObservation"/>, and <see cref="MemberDetails"/> when it answered.</summary>
internal sealed record MemberObservation(BackendObservation Probe, MemberDetails? Details)
{
    /// <summary>The most advanced WAL this server has: received (standby) or written (primary).</summary>
    public ulong? ReceivedLsn => Probe.Reachable ? Max(Probe.CurrentLsn, Probe.ReplayLsn) : null;

    private static ulong? Max(ulong? a, ulong? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
}

/// <summary>Probes one member: <see cref="BackendProbe"/> (shared with the data source), then the coordinator's details.</summary>
internal static class MemberProbe
{
    // Sender columns of pg_stat_wal_receiver are NULL for roles without pg_read_all_stats (part of pg_monitor).
    internal const string DetailsSql = """
        SELECT current_setting('synchronous_standby_names'), r.sender_host, r.sender_port, r.status,
               (SELECT setting::int FROM pg_settings WHERE name = 'wal_receiver_timeout'),
               (SELECT setting::int FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'),
               EXISTS (SELECT FROM pg_settings WHERE name = 'default_transaction_read_only' AND setting = 'on' AND sourcefile LIKE '%postgresql.auto.conf')
        FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true
        """;

    public static async Task<MemberObservation> ProbeAsync(Member member, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var probe = await BackendProbe.ProbeAsync(member.ProbePool, timeout, time, cancellationToken).ConfigureAwait(false);
        if (!probe.Reachable)
            return new MemberObservation(probe, null);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var work = DetailsAsync(member.ProbePool, cts.Token);
        try
        {
            return new MemberObservation(probe, await work.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
            && e is OperationCanceledException or TimeoutException or NpgsqlException or IOException or InvalidOperationException)
        {
            _ = work.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return new MemberObservation(probe, null);
        }
    }

    private static async Task<MemberDetails> DetailsAsync(NpgsqlDataSource pool, CancellationToken ct)
    {
        await using var conn = await pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(DetailsSql, conn);
        // Connecting honours the timeout; the query is given up by the caller, never cancelled (see BackendProbe).
        await using var reader = await cmd.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
        await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        return new MemberDetails(
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetInt32(2),
            reader.IsDBNull(3) ? null : reader.GetString(3),
            reader.IsDBNull(4) ? null : reader.GetInt32(4),
            reader.IsDBNull(5) ? null : reader.GetInt32(5),
            !reader.IsDBNull(6) && reader.GetBoolean(6));
    }
}
