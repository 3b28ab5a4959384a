using System.Runtime.CompilerServices;
using Npgsql;

namespace RoutingDataSource.Topology;

/// <summary>
/// Watches a backend's physical connections for PostgreSQL's sign that a commit was not replicated as promised: when a
/// commit's wait for synchronous replication is cut short (the statement was cancelled, or the session terminated), the
/// server still reports success, with a WARNING ("canceling wait for synchronous replication ... The transaction has
/// already committed locally, but might not have been replicated to the standby"). Such a commit can be lost at the next
/// failover, so the statement that carried it must not be acknowledged.
/// </summary>
/// <remarks>
/// The notice arrives through <see cref="NpgsqlConnection.Notice"/> while the statement runs; it is kept per physical
/// connection until the statement that carried it takes it (<see cref="TakeCutShort"/>). Only a commit can raise it, so
/// only commit-bearing statements (writes outside a transaction, COMMIT) look. The message text is matched, so the
/// servers must report messages in English (<c>lc_messages</c> 'C' or 'en_*', the default of Debian's and the official
/// packages' clusters); the README says so.
/// </remarks>
internal sealed class CommitWarnings
{
    private readonly ConditionalWeakTable<NpgsqlConnection, Mark> _marks = new();
    private readonly NoticeEventHandler _onNotice;

    public CommitWarnings() => _onNotice = OnNotice;

    /// <summary>Starts watching a physical connection (once, when it is created: the handler stays across opens).</summary>
    public void Watch(NpgsqlConnection connection) => connection.Notice += _onNotice;

    /// <summary>Whether a notice that a commit's synchronous wait was cut short arrived on the connection since the last call; clears it.</summary>
    public bool TakeCutShort(NpgsqlConnection connection)
        => _marks.TryGetValue(connection, out var mark) && Interlocked.Exchange(ref mark.CutShort, 0) != 0;

    private void OnNotice(object? sender, NpgsqlNoticeEventArgs e)
    {
        if (sender is NpgsqlConnection connection && IsSyncWaitCutShort(e.Notice))
            Volatile.Write(ref _marks.GetOrCreateValue(connection).CutShort, 1);
    }

    /// <summary>
    /// PostgreSQL's syncrep.c warnings: "canceling wait for synchronous replication due to user request" and "canceling
    /// the wait for synchronous replication and terminating connection due to administrator command".
    /// </summary>
    internal static bool IsSyncWaitCutShort(PostgresNotice notice)
        => string.Equals(notice.InvariantSeverity, "WARNING", StringComparison.Ordinal)
            && (notice.MessageText.Contains("wait for synchronous replication", StringComparison.OrdinalIgnoreCase)
                || (notice.Detail?.Contains("committed locally", StringComparison.OrdinalIgnoreCase) ?? false));

    private sealed class Mark
    {
        public int CutShort;
    }
}
