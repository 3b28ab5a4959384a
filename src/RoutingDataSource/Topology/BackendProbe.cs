using Npgsql;
using NpgsqlTypes;

namespace RoutingDataSource.Topology;

/// <summary>
/// One health probe of one server over plain SQL: role, timeline, WAL positions, replay state and, on a primary, its
/// <c>pg_stat_replication</c>. One round trip (a two-statement batch). Shared by the data source's monitor and the
/// failover coordinator.
/// </summary>
internal static class BackendProbe
{
    // pg_current_wal_lsn() and pg_walfile_name() fail during recovery, pg_is_wal_replay_paused() outside it: the CASEs
    // keep each call on the side where it is legal. The timeline of a primary comes from its current WAL file name,
    // which changes at promotion; pg_control_checkpoint() would lag until the next checkpoint.
    internal const string StatusSql = """
        SELECT s.r,
               current_setting('server_version_num')::int,
               CASE WHEN s.r THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,
               CASE WHEN s.r THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
               CASE WHEN s.r THEN pg_is_wal_replay_paused() END,
               CASE WHEN s.r
                    THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
               (SELECT status FROM pg_stat_wal_receiver),
               CASE WHEN s.r THEN NULL ELSE pg_current_wal_insert_lsn() END,
               (SELECT system_identifier FROM pg_control_system())
        FROM (SELECT pg_is_in_recovery() AS r) s
        """;

    internal const string ReplicationSql = """
        SELECT application_name, state, sync_state, sent_lsn, write_lsn, flush_lsn, replay_lsn, write_lag, flush_lag, replay_lag
        FROM pg_stat_replication
        """;

    /// <summary>Probes the server behind <paramref name="pool"/>; never throws except on <paramref name="cancellationToken"/>.</summary>
    /// <remarks>
    /// The query itself is never cancelled (its token is not cancellable and the probe pool has no command timeout):
    /// Npgsql answers a cancellation with a cancel request, a new connection to the server and a blocking read until the
    /// server closes it, which a frozen server never does, so every probe would hold a thread-pool thread for as long
    /// as the freeze lasts. A probe that outlasts its timeout is given up instead and finishes whenever the server
    /// answers; the probe pool's size bounds how many can be pending. Only connecting honours the timeout's token
    /// (cancelling a connection attempt sends nothing to the server).
    /// </remarks>
    public static async Task<BackendObservation> ProbeAsync(NpgsqlDataSource pool, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var work = ProbeCoreAsync(pool, time, cts.Token);
        try
        {
            // WaitAsync is the hard bound: a server that accepts TCP and then says nothing must not hold the monitor
            // even if a driver call ignores the token. The abandoned task is observed below.
            return await work.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Observe(work);
            return BackendObservation.Failed($"health check timed out after {timeout.TotalMilliseconds:0} ms", time.GetUtcNow());
        }
        catch (TimeoutException)
        {
            Observe(work);
            return BackendObservation.Failed($"health check timed out after {timeout.TotalMilliseconds:0} ms", time.GetUtcNow());
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or IOException or InvalidOperationException)
        {
            return BackendObservation.Failed(Describe(e), time.GetUtcNow(), PermanentConnectionError.Advice(e));
        }
    }

    private static void Observe(Task t) => t.ContinueWith(static x => _ = x.Exception, CancellationToken.None,
        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    internal static string Describe(Exception e) => e switch
    {
        PostgresException pe => $"{pe.SqlState}: {pe.MessageText}",
        NpgsqlException { InnerException: { } inner } ne when ne.Message.StartsWith("Exception while", StringComparison.Ordinal) => inner.Message,
        _ => e.Message,
    };

    private static async Task<BackendObservation> ProbeCoreAsync(NpgsqlDataSource pool, TimeProvider time, CancellationToken connectToken)
    {
        await using var conn = await pool.OpenConnectionAsync(connectToken).ConfigureAwait(false);
        var ct = CancellationToken.None; // see ProbeAsync: a query on a hung server is given up, never cancelled
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands = { new NpgsqlBatchCommand(StatusSql), new NpgsqlBatchCommand(ReplicationSql) },
        };
        await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            return BackendObservation.Failed("health check returned no row", time.GetUtcNow());
        var inRecovery = reader.GetBoolean(0);
        var versionNum = reader.GetInt32(1);
        var current = Lsn(reader, 2);
        var replay = Lsn(reader, 3);
        bool? paused = reader.IsDBNull(4) ? null : reader.GetBoolean(4);
        int? timeline = reader.IsDBNull(5) ? null : reader.GetInt32(5);
        var receiver = reader.IsDBNull(6) ? null : reader.GetString(6);
        var insert = Lsn(reader, 7);
        ulong? systemIdentifier = reader.IsDBNull(8) ? null : unchecked((ulong)reader.GetInt64(8));
        await reader.NextResultAsync(ct).ConfigureAwait(false);
        List<ReplicationRow>? rows = null;
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows ??= [];
            rows.Add(new ReplicationRow(
                reader.IsDBNull(0) ? "" : reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                Lsn(reader, 3), Lsn(reader, 4), Lsn(reader, 5), Lsn(reader, 6),
                Interval(reader, 7), Interval(reader, 8), Interval(reader, 9)));
        }
        return new BackendObservation
        {
            Reachable = true,
            At = time.GetUtcNow(),
            InRecovery = inRecovery,
            ServerVersionNum = versionNum,
            CurrentLsn = current,
            ReplayLsn = replay,
            ReplayPaused = paused,
            Timeline = timeline,
            WalReceiverStatus = receiver,
            InsertLsn = insert,
            SystemIdentifier = systemIdentifier,
            Replication = rows is null ? [] : rows,
        };
    }

    private static ulong? Lsn(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(i);

    private static TimeSpan? Interval(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<TimeSpan>(i);
}
