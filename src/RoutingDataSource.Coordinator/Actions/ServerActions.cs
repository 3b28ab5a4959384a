using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Actions;

/// <summary>
/// The SQL the coordinator changes servers with. Each method is one small step, bounded by the caller's token;
/// together they need only the least privileges listed in the README (pg_monitor, REPLICATION, EXECUTE on
/// pg_promote and pg_reload_conf, ALTER SYSTEM on three parameters).
/// </summary>
internal static class ServerActions
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(50);

    /// <summary><c>ALTER SYSTEM SET synchronous_standby_names</c> and reload. On a standby it takes effect at promotion.</summary>
    public static Task SetSynchronousStandbyNamesAsync(Member member, string value, CancellationToken ct) =>
        AlterSystemAsync(member, [("synchronous_standby_names", value)], ct);

    /// <summary>Points a standby at a new upstream: <c>primary_conninfo</c>, <c>primary_slot_name</c>, reload (the WAL receiver restarts).</summary>
    public static Task RepointAsync(Member standby, string conninfo, string slot, CancellationToken ct) =>
        AlterSystemAsync(standby, [("primary_conninfo", conninfo), ("primary_slot_name", slot)], ct);

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

    /// <summary><c>pg_promote(true, seconds)</c>: true once the server has left recovery.</summary>
    public static Task<bool> PromoteAsync(Member standby, TimeSpan wait, CancellationToken ct) =>
        ScalarAsync<bool>(standby, string.Create(CultureInfo.InvariantCulture,
            $"SELECT pg_promote(true, {Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))})"), ct);

    /// <summary>The timeline of a primary: that of its current WAL file, which changes at promotion.</summary>
    public static Task<int> TimelineAsync(Member primary, CancellationToken ct) =>
        ScalarAsync<int>(primary, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int", ct);

    /// <summary>Whether <paramref name="primary"/> lists <paramref name="applicationName"/> as streaming in <c>pg_stat_replication</c>.</summary>
    public static async Task<bool> IsStreamingAsync(Member primary, string applicationName, CancellationToken ct)
    {
        await using var conn = await primary.Pool.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming')", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = applicationName });
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
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
