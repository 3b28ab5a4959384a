using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Actions;

/// <summary>What <see cref="ServerActions.PromoteAsync"/> saw: whether the server left recovery in time, and how often it was woken.</summary>
internal readonly record struct PromotionResult(bool Promoted, int WakeUps);

/// <summary>
/// The SQL the coordinator reads and changes servers with. Each method is one small step, bounded by the caller's
/// token; the changes are made only through <see cref="Mutations"/>;
/// together they need only the least privileges listed in the README (pg_monitor, REPLICATION, EXECUTE on
/// pg_promote and pg_reload_conf, ALTER SYSTEM on three parameters).
/// </summary>
internal static class ServerActions
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(50);

    // A promotion leaves recovery within a few ms once the request is seen; finer polling than the replay waits.
    private static readonly TimeSpan PromotePollEvery = TimeSpan.FromMilliseconds(10);

    /// <summary>How long a promotion may stay in recovery before the standby is woken (and again after each wake-up).</summary>
    internal static readonly TimeSpan WakeAfter = TimeSpan.FromMilliseconds(100);

    /// <summary><c>ALTER SYSTEM SET synchronous_standby_names</c> and reload. On a standby it takes effect at promotion.</summary>
    public static Task SetSynchronousStandbyNamesAsync(Member member, string value, CancellationToken ct) =>
        AlterSystemAsync(member, [("synchronous_standby_names", value)], ct);

    /// <summary>Points a standby at a new upstream: <c>primary_conninfo</c>, <c>primary_slot_name</c>, reload (the WAL receiver restarts).</summary>
    public static Task RepointAsync(Member standby, string conninfo, string slot, CancellationToken ct) =>
        AlterSystemAsync(standby, [("primary_conninfo", conninfo), ("primary_slot_name", slot)], ct);

    /// <summary>
    /// Stops a standby's streaming: <c>primary_conninfo</c> emptied and reloaded, then a bounded wait until its WAL
    /// receiver is gone. From then on it confirms nothing more to its old upstream, so what it has received is final.
    /// True when the receiver stopped in time.
    /// </summary>
    public static async Task<bool> StopStreamingAsync(Member standby, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        await AlterSystemAsync(standby, [("primary_conninfo", "")], ct).ConfigureAwait(false);
        var until = time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        while (await ScalarAsync<bool>(standby, "SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE pid IS NOT NULL)", ct).ConfigureAwait(false))
        {
            if (time.GetTimestamp() >= until)
                return false;
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, ct).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>Creates the physical slot (reserving WAL now) unless it exists.</summary>
    public static async Task CreateSlotAsync(Member primary, string slot, CancellationToken ct)
    {
        await using var conn = await primary.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT pg_create_physical_replication_slot($1::name, true) WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1::name)",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = slot });
        try
        {
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
        {
            // Created concurrently: what we wanted.
        }
    }

    /// <summary>
    /// Drops a physical slot unless a receiver uses it; false when it does not exist or is in use (nothing changed).
    /// </summary>
    public static async Task<bool> DropInactiveSlotAsync(Member primary, string slot, CancellationToken ct)
    {
        await using var conn = await primary.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (var check = new NpgsqlCommand("SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1::name AND NOT active)", conn))
        {
            check.Parameters.Add(new NpgsqlParameter { Value = slot });
            if (!(bool)(await check.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                return false;
        }
        await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot($1::name)", conn);
        drop.Parameters.Add(new NpgsqlParameter { Value = slot });
        try
        {
            await drop.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedObject or PostgresErrorCodes.ObjectInUse)
        {
            // Gone, or its receiver came back since the check: either way it is not unused.
            return false;
        }
    }

    /// <summary>Waits (bounded) until the standby has replayed what it had received; false on timeout.</summary>
    public static async Task<bool> WaitForReplayAsync(Member standby, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        var until = time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        while (true)
        {
            var caughtUp = await ScalarAsync<bool>(standby,
                "SELECT NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()",
                ct).ConfigureAwait(false);
            if (caughtUp)
                return true;
            if (time.GetTimestamp() >= until)
                return false;
            await Task.Delay(PollEvery, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Waits (bounded) until the standby has received WAL up to <paramref name="position"/>; false on timeout.</summary>
    public static async Task<bool> WaitForReceiveAsync(Member standby, ulong position, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        var until = time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        while (true)
        {
            // NULL (nothing received yet) reads as 0.
            var received = await ScalarAsync<NpgsqlLogSequenceNumber>(standby,
                "SELECT GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())", ct).ConfigureAwait(false);
            if ((ulong)received >= position)
                return true;
            if (time.GetTimestamp() >= until)
                return false;
            await Task.Delay(PollEvery, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary><c>pg_current_wal_lsn()</c> of a primary.</summary>
    public static async Task<ulong> CurrentLsnAsync(Member primary, CancellationToken ct) =>
        (ulong)await ScalarAsync<NpgsqlLogSequenceNumber>(primary, "SELECT pg_current_wal_lsn()", ct).ConfigureAwait(false);

    /// <summary>
    /// Asks for the promotion (<c>pg_promote(false)</c>) and waits (bounded) until the server has left recovery; the
    /// result tells whether it did and how often it had to be woken.
    /// </summary>
    /// <remarks>
    /// PostgreSQL 15 can leave a promote request unanswered for up to <c>wal_retrieve_retry_interval</c>: when the
    /// request reaches the startup process while it is starting a WAL receiver (requested, not yet running), it
    /// gives that attempt up and sleeps out the rest of the interval since its last failed attempt before it checks
    /// the request again; the latch the request set was consumed by the wait it interrupted. A reload sets that latch
    /// again (the startup process's SIGHUP handler wakes recovery), which ends the sleep; it changes nothing else that
    /// the promotion has not already reloaded (synchronous_standby_names). So while the server is still in recovery
    /// after <see cref="WakeAfter"/>, it is woken with <c>pg_reload_conf()</c> every <see cref="WakeAfter"/>.
    /// </remarks>
    public static async Task<PromotionResult> PromoteAsync(Member standby, TimeSpan wait, TimeProvider time, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        if (!await ScalarAsync<bool>(standby, "SELECT pg_promote(false)", ct).ConfigureAwait(false))
            return new PromotionResult(false, 0);
        var wakeUps = 0;
        var nextWakeUp = WakeAfter;
        while (true)
        {
            if (!await ScalarAsync<bool>(standby, "SELECT pg_is_in_recovery()", ct).ConfigureAwait(false))
                return new PromotionResult(true, wakeUps);
            var elapsed = time.GetElapsedTime(started);
            if (elapsed >= wait)
                return new PromotionResult(false, wakeUps);
            if (elapsed >= nextWakeUp)
            {
                try
                {
                    await ScalarAsync<bool>(standby, "SELECT pg_reload_conf()", ct).ConfigureAwait(false);
                    wakeUps++;
                    nextWakeUp = elapsed + WakeAfter;
                }
                catch (PostgresException)
                {
                    // Refused (no EXECUTE on pg_reload_conf): the promotion goes on, only without the wake-ups.
                    nextWakeUp = TimeSpan.MaxValue;
                }
            }
            await Task.Delay(PromotePollEvery, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The timeline of a primary: that of its current WAL file, which changes at promotion.</summary>
    public static Task<int> TimelineAsync(Member primary, CancellationToken ct) =>
        ScalarAsync<int>(primary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int", ct);

    /// <summary>
    /// <c>CHECKPOINT</c> on a primary until its control file names its current timeline (right after a promotion it
    /// names the old one until a checkpoint completes, and pg_rewind reads the source's timeline from it: with the old
    /// one it finds nothing to rewind). Needs the pg_checkpoint role. False when it still does not after a few tries.
    /// </summary>
    public static async Task<bool> CheckpointAsync(Member primary, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await using (var conn = await primary.Pool.OpenConnectionAsync(ct).ConfigureAwait(false))
            await using (var cmd = new NpgsqlCommand("CHECKPOINT", conn))
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            if (await ScalarAsync<int>(primary, "SELECT timeline_id FROM pg_control_checkpoint()", ct).ConfigureAwait(false) == await TimelineAsync(primary, ct).ConfigureAwait(false))
                return true;
            await Task.Delay(PollEvery, ct).ConfigureAwait(false);
        }
        return false;
    }

    /// <summary>Whether <paramref name="primary"/> lists <paramref name="applicationName"/> as streaming in <c>pg_stat_replication</c>.</summary>
    public static async Task<bool> IsStreamingAsync(Member primary, string applicationName, CancellationToken ct)
    {
        await using var conn = await primary.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming')", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = applicationName });
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Fences a server that answers as a primary but is not the cluster's: <c>default_transaction_read_only</c> on
    /// (ALTER SYSTEM, reload), then every other client session terminated, so that no client keeps writing to it
    /// through a session opened before. The number of sessions terminated. Needs ALTER SYSTEM on that parameter and
    /// pg_signal_backend.
    /// </summary>
    public static async Task<int> FenceReadOnlyAsync(Member server, CancellationToken ct)
    {
        await AlterSystemAsync(server, [("default_transaction_read_only", "on")], ct).ConfigureAwait(false);
        // The reload reaches every backend at its next command; the sessions are ended anyway, so that none of them
        // finishes a transaction it had begun read-write.
        // Not the coordinator's own sessions (its probes and actions, under its role and application names). The CTE
        // is materialized so that the filter runs before pg_terminate_backend: in one WHERE clause the planner may
        // evaluate the call first, and it would end every session, this one included.
        return await ScalarAsync<int>(server, """
            WITH victims AS MATERIALIZED (
                SELECT pid FROM pg_stat_activity
                WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                  AND NOT (usename = current_user AND application_name LIKE 'routing-coordinator%'))
            SELECT (count(*) FILTER (WHERE pg_terminate_backend(pid)))::int FROM victims
            """, ct).ConfigureAwait(false);
    }

    /// <summary>Undoes <see cref="FenceReadOnlyAsync"/> on a server that is a standby again (ALTER SYSTEM RESET, reload).</summary>
    public static async Task UnfenceAsync(Member server, CancellationToken ct)
    {
        await using var conn = await server.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (var reset = new NpgsqlCommand("ALTER SYSTEM RESET default_transaction_read_only", conn))
            await reset.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using var reload = new NpgsqlCommand("SELECT pg_reload_conf()", conn);
        await reload.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>An SQL string literal. ALTER SYSTEM takes no parameters, so values are inlined; E'' keeps backslashes literal whatever standard_conforming_strings says.</summary>
    internal static string Literal(string value) =>
        "E'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    private static async Task AlterSystemAsync(Member member, (string Name, string Value)[] settings, CancellationToken ct)
    {
        await using var conn = await member.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        // ALTER SYSTEM refuses to run in a transaction block (a multi-statement batch is one), so one round trip each.
        foreach (var (name, value) in settings)
        {
            await using var cmd = new NpgsqlCommand($"ALTER SYSTEM SET {name} = {Literal(value)}", conn);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using var reload = new NpgsqlCommand("SELECT pg_reload_conf()", conn);
        await reload.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<T> ScalarAsync<T>(Member member, string sql, CancellationToken ct)
    {
        await using var conn = await member.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return reader.IsDBNull(0) ? default! : reader.GetFieldValue<T>(0);
    }
}
