using Npgsql;
using NpgsqlTypes;

namespace RoutingDataSource.Connections;

/// <summary>
/// Runs a write outside a transaction so that its commit position comes back in the same round trip: the write's
/// statements, an error barrier (a Sync: the server commits the implicit transaction there), then
/// <c>SELECT pg_current_wal_insert_lsn()</c> in a transaction of its own. Read after the commit, that position is at or
/// past the end of the write's commit record. (Read in the write's own implicit transaction it would come before the
/// commit record: statements of one batch without barriers share one transaction, committed at its end.) Readers,
/// scalars and row counts see only the write's results: the position is the batch's last result and a SELECT adds
/// nothing to the rows affected.
/// </summary>
internal static class CommitPosition
{
    public const string Sql = "SELECT pg_current_wal_insert_lsn()";

    /// <summary>A new batch command that reads the position.</summary>
    public static NpgsqlBatchCommand Command() => new(Sql);

    /// <summary>Runs <paramref name="batch"/> (ending with <see cref="Command"/>) as ExecuteNonQuery or ExecuteScalar would run the write alone.</summary>
    public static async Task<Positioned> RunAsync(NpgsqlBatch batch, bool scalar, bool async, CancellationToken cancellationToken)
    {
        var reader = async ? await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false) : batch.ExecuteReader();
        var outOfStep = false;
        try
        {
            object? first = null;
            object? last = null;
            var results = 0;
            do
            {
                object? value = null;
                if (reader.FieldCount > 0 && (async ? await reader.ReadAsync(cancellationToken).ConfigureAwait(false) : reader.Read()))
                {
                    // Only the values used: the write's first one for a scalar, the position (pg_lsn). A write's
                    // result the driver cannot read as an object (an unmapped composite) is never read, as with
                    // ExecuteNonQuery on a plain connection.
                    if ((scalar && results == 0) || reader.GetDataTypeName(0) == "pg_lsn")
                        value = reader.GetValue(0);
                    // The other rows are read here, not skipped by NextResult: an error after the first row (a
                    // volatile function failing on a later one) then comes out of Read. Skipped by NextResult, it
                    // made Npgsql 10.0.0 spin in this batch (error barriers) for good.
                    while (async ? await reader.ReadAsync(cancellationToken).ConfigureAwait(false) : reader.Read())
                    {
                    }
                }
                if (results++ == 0)
                    first = value;
                last = value;
            }
            while (async ? await reader.NextResultAsync(cancellationToken).ConfigureAwait(false) : reader.NextResult());
            var lsn = last is NpgsqlLogSequenceNumber l ? (ulong)l : 0;
            // One result: only the position's, the write returned none (ExecuteScalar gives null then).
            return new Positioned(reader.RecordsAffected, scalar && results > 1 ? first : null, lsn);
        }
        catch (PostgresException)
        {
            // The write failed after its first row. The server still ran the position after the barrier, but Npgsql
            // 10.0.0 ends the results here and leaves that one unread: every later statement on the connection would
            // get the result of the one before it. Only when the driver did move on to it is the connection in step.
            outOfStep = !(async ? await reader.NextResultAsync(cancellationToken).ConfigureAwait(false) : reader.NextResult());
            throw;
        }
        finally
        {
            if (async)
                await reader.DisposeAsync().ConfigureAwait(false);
            else
                reader.Dispose();
            if (outOfStep)
                await RetireAsync(batch.Connection!, async).ConfigureAwait(false);
        }
    }

    // Waiting for a notification reads the unread result, which the driver takes as a protocol violation: it breaks
    // the connection, which is then never pooled again, and the caller sees the write's own error.
    private static async Task RetireAsync(NpgsqlConnection connection, bool async)
    {
        try
        {
            if (async)
                await connection.WaitAsync(RetireWait).ConfigureAwait(false);
            else
                connection.Wait(RetireWait);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // Broken, as intended.
        }
    }

    private static readonly TimeSpan RetireWait = TimeSpan.FromSeconds(30);
}

/// <summary>What a positioned write returned.</summary>
/// <param name="Rows">Rows affected, as ExecuteNonQuery returns them.</param>
/// <param name="Scalar">The write's first value, as ExecuteScalar returns it.</param>
/// <param name="Lsn">The primary's insert position after the commit (0 when it did not come back).</param>
internal readonly record struct Positioned(int Rows, object? Scalar, ulong Lsn);

/// <summary>Reused by a command or batch to run positioned writes (see <see cref="CommitPosition"/>).</summary>
internal sealed class PositionedBatch
{
    public NpgsqlBatch Batch { get; } = new();

    public NpgsqlBatchCommand Position { get; } = CommitPosition.Command();
}
