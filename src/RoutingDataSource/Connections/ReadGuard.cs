using Npgsql;
using NpgsqlTypes;

namespace RoutingDataSource.Connections;

/// <summary>
/// The statement put before a read sent to a standby that is not known to have replayed what the read must see. It
/// produces no result (a <c>DO</c> block: readers, scalars and row counts see only the read) and fails, so the read
/// sent after it in the same round trip is skipped by the server, unless the standby's replay position has reached the
/// required one. It depends on the volatile <c>pg_last_wal_replay_lsn()</c>, so nothing is folded at planning time.
/// Outside read committed (a session whose default isolation is repeatable read) the read's snapshot would be the
/// guard's, taken before the check: the guard fails there too, and the primary serves the read.
/// </summary>
internal static class ReadGuard
{
    /// <summary>The SQLSTATE the guard raises when the standby is behind (a class no PostgreSQL error uses).</summary>
    public const string MissState = "RY001";

    public static string Sql(ulong requiredLsn)
    {
        var lsn = new NpgsqlLogSequenceNumber(requiredLsn).ToString();
        return "DO $rds_guard$BEGIN IF COALESCE(pg_last_wal_replay_lsn(), '0/0') < '" + lsn
            + "' OR current_setting('transaction_isolation') <> 'read committed' THEN RAISE EXCEPTION USING ERRCODE = '" + MissState
            + "', MESSAGE = 'read-your-writes guard: replayed ' || COALESCE(pg_last_wal_replay_lsn(), '0/0')::text || ', needs " + lsn
            + "'; END IF; END$rds_guard$";
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
