using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace RoutingDataSource.Connections;

/// <summary>
/// The statement put before a read sent to a standby that is not known to have replayed what the read must see. It
/// produces no result (a <c>DO</c> block: readers, scalars and row counts see only the read) and fails, so the read
/// sent after it in the same round trip is skipped by the server, unless the standby's replay position has reached the
/// required one, waiting for it up to <see cref="RoutingOptions.ReadYourWritesWait"/>. It depends on the volatile
/// <c>pg_last_wal_replay_lsn()</c>, so nothing is folded at planning time.
/// Outside read committed (a session whose default isolation is repeatable read) the read's snapshot would be the
/// guard's, taken before the check: the guard fails there too, and the primary serves the read.
/// The read runs in the guard's implicit transaction, which began before the check, perhaps before the replay the
/// guard waited for: that backend has not yet taken in the catalog invalidations of what was replayed meanwhile, and a
/// lookup that takes no lock (<c>'name'::regclass</c>, then <c>pg_get_indexdef</c>) would find a relation replaced since
/// (<c>XX000 cache lookup failed</c> after a <c>REINDEX CONCURRENTLY</c>). So once the check passes, the guard opens a
/// catalog nothing before it in the transaction has locked: the first lock on a relation in a transaction makes the
/// backend take in the invalidations queued so far (a publicly readable one; should its privilege have been revoked,
/// the lock was still taken before the privilege check failed, and that failure is ignored).
/// </summary>
internal static class ReadGuard
{
    /// <summary>The SQLSTATE the guard raises when the standby is behind (a class no PostgreSQL error uses).</summary>
    public const string MissState = "RY001";

    // See the class summary: catalog invalidations replayed while the guard's transaction ran are taken in.
    private const string Refresh = "BEGIN PERFORM FROM pg_catalog.pg_largeobject_metadata LIMIT 0; EXCEPTION WHEN insufficient_privilege THEN NULL; END; ";

    /// <summary>
    /// The guard for <paramref name="guard"/>: it waits for replay up to <see cref="ReadGuardTicket.Wait"/>; once it
    /// passes, the <paramref name="state"/> (see <see cref="StateBody"/>) runs in the same block.
    /// </summary>
    public static string Sql(in ReadGuardTicket guard, string? state = null) => Sql(guard.Lsn, guard.Wait, state);

    /// <summary>The session state <paramref name="state"/> (see <see cref="StateBody"/>) as one statement without a guard.</summary>
    public static string StateOnly(string state) => "DO $rds_guard$BEGIN " + state + "END$rds_guard$";

    /// <summary>The SQLSTATE of the session state run in front of a write failing (<see cref="StateBeforeWrite"/>): the write did not run.</summary>
    public const string StateFailedState = "RY002";

    /// <summary>
    /// The session state <paramref name="state"/> as one statement to run in front of a write in its implicit
    /// transaction. A failure of the state comes back as <see cref="StateFailedState"/> with the server's message, so it
    /// is told apart from the write's own failure in any message language (a cancel or statement timeout keeps its own
    /// code: PL/pgSQL's OTHERS does not catch it).
    /// </summary>
    public static string StateBeforeWrite(string state)
        => "DO $rds_guard$BEGIN " + state + "EXCEPTION WHEN OTHERS THEN RAISE EXCEPTION USING ERRCODE = '" + StateFailedState
            + "', MESSAGE = SQLERRM, DETAIL = 'SQLSTATE ' || SQLSTATE; END$rds_guard$";

    /// <summary>
    /// Session-state statements as the body of the block put before a read (each run by <c>EXECUTE</c>, so one
    /// statement carries them all, as a batch command or a $1-parameter command allows); null when a text cannot be
    /// quoted safely there (a backslash, which <c>standard_conforming_strings</c> changes, or the block's own quote).
    /// </summary>
    public static string? StateBody(List<string> statements)
    {
        var body = new System.Text.StringBuilder();
        foreach (var s in statements)
        {
            if (s.Contains('\\', StringComparison.Ordinal) || s.Contains("$rds_guard$", StringComparison.Ordinal))
                return null;
            body.Append("EXECUTE '").Append(s.Replace("'", "''", StringComparison.Ordinal)).Append("'; ");
        }
        return body.ToString();
    }

    /// <summary>
    /// The guard text. With a <paramref name="wait"/>, a standby not yet there is asked again every millisecond
    /// (<c>pg_sleep</c> sleeps whole milliseconds on PostgreSQL 15; a busy loop would take the CPU the startup process
    /// replays with) until it has replayed the position or the wait is over; the read then runs or the guard fails.
    /// </summary>
    public static string Sql(ulong requiredLsn, TimeSpan wait, string? state = null)
    {
        var lsn = new NpgsqlLogSequenceNumber(requiredLsn).ToString();
        var behind = "COALESCE(pg_last_wal_replay_lsn(), '0/0') < '" + lsn + "'";
        var isolated = "current_setting('transaction_isolation') <> 'read committed'";
        var poll = wait > TimeSpan.Zero
            ? "DECLARE rds_until timestamptz := clock_timestamp() + interval '"
                + ((long)wait.TotalMicroseconds).ToString(CultureInfo.InvariantCulture) + " microseconds'; BEGIN WHILE " + behind
                + " AND NOT " + isolated + " AND clock_timestamp() < rds_until LOOP PERFORM pg_sleep(0.001); END LOOP; "
            : "BEGIN ";
        return "DO $rds_guard$" + poll + "IF " + behind + " OR " + isolated + " THEN RAISE EXCEPTION USING ERRCODE = '" + MissState
            + "', MESSAGE = 'read-your-writes guard: replayed ' || COALESCE(pg_last_wal_replay_lsn(), '0/0')::text || ', needs " + lsn
            + "'; END IF; " + Refresh + state + "END$rds_guard$";
    }

    /// <summary>Whether <paramref name="e"/> is the guard saying the standby has not replayed far enough.</summary>
    public static bool IsMiss(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException { SqlState: MissState })
                return true;
        }
        return false;
    }
}
