using System.Data;
using System.Data.Common;
using RoutingDataSource.Connections;

namespace RoutingDataSource;

/// <summary>
/// A transaction on a <see cref="RoutingConnection"/>. It is bound to one server by its first statement and stays
/// there until <see cref="Commit"/> or <see cref="Rollback()"/>: the primary, or a standby for a read-only transaction.
/// </summary>
public sealed class RoutingTransaction : DbTransaction
{
    private RoutingConnection? _connection;
    private bool _lost;

    internal RoutingTransaction(RoutingConnection connection, IsolationLevel isolationLevel, bool readOnly)
    {
        _connection = connection;
        IsolationLevel = isolationLevel;
        IsReadOnly = readOnly;
    }

    /// <summary>The connection, or null once the transaction has completed.</summary>
    public new RoutingConnection? Connection => _connection;

    /// <inheritdoc />
    protected override DbConnection? DbConnection => _connection;

    /// <inheritdoc />
    public override IsolationLevel IsolationLevel { get; }

    /// <summary>Whether it was begun with <see cref="RoutingConnection.BeginReadOnlyTransactionAsync"/>.</summary>
    public bool IsReadOnly { get; }

    /// <inheritdoc />
    public override bool SupportsSavepoints => true;

    /// <inheritdoc />
    public override void Commit() => SyncPath.Wait(Complete(commit: true, async: false, default));

    /// <inheritdoc />
    public override Task CommitAsync(CancellationToken cancellationToken = default) => Complete(commit: true, async: true, cancellationToken);

    /// <inheritdoc />
    public override void Rollback() => SyncPath.Wait(Complete(commit: false, async: false, default));

    /// <inheritdoc />
    public override Task RollbackAsync(CancellationToken cancellationToken = default) => Complete(commit: false, async: true, cancellationToken);

    /// <inheritdoc />
    public override void Save(string savepointName) => SyncPath.Wait(Savepoint("SAVEPOINT", savepointName, false, default));

    /// <inheritdoc />
    public override Task SaveAsync(string savepointName, CancellationToken cancellationToken = default) => Savepoint("SAVEPOINT", savepointName, true, cancellationToken);

    /// <inheritdoc />
    public override void Rollback(string savepointName) => SyncPath.Wait(Savepoint("ROLLBACK TO SAVEPOINT", savepointName, false, default));

    /// <inheritdoc />
    public override Task RollbackAsync(string savepointName, CancellationToken cancellationToken = default) => Savepoint("ROLLBACK TO SAVEPOINT", savepointName, true, cancellationToken);

    /// <inheritdoc />
    public override void Release(string savepointName) => SyncPath.Wait(Savepoint("RELEASE SAVEPOINT", savepointName, false, default));

    /// <inheritdoc />
    public override Task ReleaseAsync(string savepointName, CancellationToken cancellationToken = default) => Savepoint("RELEASE SAVEPOINT", savepointName, true, cancellationToken);

    private Task Savepoint(string verb, string name, bool async, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var conn = _connection ?? throw new InvalidOperationException("This transaction has already completed.");
        // Quote as an identifier so any name is safe.
        return conn.SavepointAsync(verb + " \"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"", async, cancellationToken);
    }

    private async Task Complete(bool commit, bool async, CancellationToken cancellationToken)
    {
        var conn = _connection;
        if (conn is null)
        {
            if (_lost && !commit)
                return; // rolling back a lost transaction is what the caller wants anyway
            throw new InvalidOperationException(_lost
                ? "This transaction was lost with its server connection; it cannot be committed."
                : "This transaction has already completed.");
        }
        _connection = null;
        await conn.CompleteTransactionAsync(this, commit, async, cancellationToken).ConfigureAwait(false);
    }

    internal void MarkLost()
    {
        _connection = null;
        _lost = true;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _connection is not null)
            Rollback();
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (_connection is not null)
            await RollbackAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
