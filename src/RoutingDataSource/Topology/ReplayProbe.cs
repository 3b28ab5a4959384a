using Npgsql;
using NpgsqlTypes;

namespace RoutingDataSource.Topology;

/// <summary>
/// Asks one standby how far it has replayed (<c>pg_last_wal_replay_lsn()</c>), on its probe pool. Used only by a read
/// that may wait for a standby to catch up (<see cref="RoutingOptions.ReadYourWritesWait"/>).
/// </summary>
internal static class ReplayProbe
{
    /// <summary>The standby's replay position, or null when it did not answer within <paramref name="timeout"/>. Never throws but on <paramref name="cancellationToken"/>.</summary>
    public static async Task<ulong?> ReplayLsnAsync(Backend backend, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await using var conn = await backend.ProbePool.OpenConnectionAsync(cts.Token).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_last_wal_replay_lsn()", conn)
            {
                CommandTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)),
            };
            var value = await cmd.ExecuteScalarAsync(cts.Token).ConfigureAwait(false);
            return value is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
            && e is NpgsqlException or TimeoutException or OperationCanceledException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            return null;
        }
    }
}
