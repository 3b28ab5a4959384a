using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Npgsql;
using RoutingDataSource.Connections;

namespace RoutingDataSource;

/// <summary>
/// A logical connection to the cluster, handed out by <see cref="PgRoutingDataSource"/>. Opening it contacts no
/// server; each statement borrows a physical connection from the pool of the backend it is routed to and gives it back
/// when done, unless the session is pinned (a transaction, or session state such as SET, temp tables, PREPARE,
/// LISTEN, session advisory locks), in which case it keeps that physical connection until the transaction ends or
/// the logical connection closes.
/// </summary>
public sealed partial class RoutingConnection : DbConnection
{
    private readonly PgRoutingDataSource _dataSource;
    private ConnectionState _state = ConnectionState.Closed;

    internal RoutingConnection(PgRoutingDataSource dataSource)
    {
        _dataSource = dataSource;
    }

    /// <summary>The data source this connection routes through.</summary>
    public PgRoutingDataSource RoutingDataSource => _dataSource;

    internal PgRoutingDataSource DataSourceInternal => _dataSource;

    /// <summary>
    /// The data source's description (hosts, database, user; no password). Setting it is not supported: routing
    /// connections are configured by their data source.
    /// </summary>
    [AllowNull]
    public override string ConnectionString
    {
        get => _dataSource.ConnectionString;
        set => throw new NotSupportedException("A RoutingConnection is configured by its PgRoutingDataSource; its connection string cannot be set.");
    }

    /// <summary>The database of the first backend.</summary>
    public override string Database => _dataSource.Database ?? "";

    /// <summary>The cluster's hosts.</summary>
    public override string DataSource => _dataSource.ConnectionString;

    /// <summary>The primary's server version as last probed (e.g. "15.18"), or "" when no probe has answered yet.</summary>
    public override string ServerVersion
    {
        get
        {
            var s = _dataSource.Monitor.Current;
            var o = s.Primary?.LastObservation ?? s.Nodes.Select(n => n.LastObservation).FirstOrDefault(x => x is not null);
            if (o is null || o.ServerVersionNum == 0)
                return "";
            var v = o.ServerVersionNum;
            return v >= 100000
                ? string.Create(CultureInfo.InvariantCulture, $"{v / 10000}.{v % 100}")
                : string.Create(CultureInfo.InvariantCulture, $"{v / 10000}.{v / 100 % 100}.{v % 100}");
        }
    }

    /// <inheritdoc />
    public override ConnectionState State => _state;

    /// <summary>Not supported: every backend's database is fixed by its connection string.</summary>
    public override void ChangeDatabase(string databaseName)
        => throw new NotSupportedException("ChangeDatabase is not supported: each backend's database is fixed by its connection string in the PgRoutingDataSource.");

    /// <summary>Not supported yet: System.Transactions enlistment would need one server for the whole scope.</summary>
    public override void EnlistTransaction(System.Transactions.Transaction? transaction)
    {
        if (transaction is not null)
            throw new NotSupportedException("System.Transactions enlistment is not supported by RoutingConnection: use BeginTransaction or PgRoutingDataSource.ExecuteAsync.");
    }

    /// <summary>Opens the logical connection. Contacts no server; starts the data source's health monitor if needed.</summary>
    public override void Open()
    {
        if (_state != ConnectionState.Closed)
            throw new InvalidOperationException("The connection is already open.");
        _dataSource.Monitor.EnsureStarted();
        SetState(ConnectionState.Open);
    }

    /// <inheritdoc cref="Open" />
    public override Task OpenAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Open();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Closes the logical connection: rolls back an open transaction, and returns any pinned physical connection to its
    /// pool (where Npgsql resets its session state, as with DISCARD ALL).
    /// </summary>
    public override void Close()
    {
        if (_state == ConnectionState.Closed)
            return;
        SyncPath.Wait(ResetSession(async: false));
        SetState(ConnectionState.Closed);
    }

    /// <inheritdoc cref="Close" />
    public override Task CloseAsync()
    {
        if (_state == ConnectionState.Closed)
            return Task.CompletedTask;
        var reset = ResetSession(async: true);
        if (!reset.IsCompletedSuccessfully)
            return FinishCloseAsync(reset);
        SetState(ConnectionState.Closed);
        return Task.CompletedTask;
    }

    private async Task FinishCloseAsync(Task reset)
    {
        await reset.ConfigureAwait(false);
        SetState(ConnectionState.Closed);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Close();
            // Its cached command (disposed) is of no use to anyone any more: its Npgsql command goes to the next command.
            CachedCommand?.Recycle();
            CachedCommand = null;
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        var close = CloseAsync();
        if (!close.IsCompletedSuccessfully)
            return FinishDisposeAsync(close);
        Dispose(); // what DbConnection.DisposeAsync does
        return default;
    }

    private async ValueTask FinishDisposeAsync(Task close)
    {
        await close.ConfigureAwait(false);
        Dispose();
    }

    /// <summary>
    /// Creates a command on this connection. As in Npgsql, the connection keeps one disposed command and hands it out
    /// again here, reset (see <see cref="RoutingCommand"/>): a disposed command must not be used any more.
    /// </summary>
    public new RoutingCommand CreateCommand()
    {
        var cached = CachedCommand;
        if (cached is null)
            return RoutingCommand.CreateCached(this);
        CachedCommand = null;
        return cached.Reuse();
    }

    /// <summary>The command last disposed on this connection, reset, for the next <see cref="CreateCommand"/>.</summary>
    internal RoutingCommand? CachedCommand { get; set; }

    /// <inheritdoc />
    protected override DbCommand CreateDbCommand() => CreateCommand();

    /// <summary>Creates a batch on this connection; its commands are routed together, to the strongest target any of them needs.</summary>
    public new RoutingBatch CreateBatch() => new() { Connection = this };

    /// <inheritdoc />
    public override bool CanCreateBatch => true;

    /// <inheritdoc />
    protected override DbBatch CreateDbBatch() => CreateBatch();

    /// <summary>
    /// Begins a transaction. It is bound to a server by its first statement: the primary, unless that statement is
    /// <c>SET TRANSACTION READ ONLY</c>. Use <see cref="BeginReadOnlyTransactionAsync"/> to let a standby serve it.
    /// </summary>
    public new RoutingTransaction BeginTransaction() => BeginTransaction(IsolationLevel.Unspecified);

    /// <inheritdoc cref="BeginTransaction()" />
    public new RoutingTransaction BeginTransaction(IsolationLevel isolationLevel) => StartTransaction(isolationLevel, readOnly: false);

    /// <inheritdoc />
    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => BeginTransaction(isolationLevel);

    /// <inheritdoc />
    protected override ValueTask<DbTransaction> BeginDbTransactionAsync(IsolationLevel isolationLevel, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<DbTransaction>(BeginTransaction(isolationLevel));
    }

    /// <summary>
    /// Begins a read-only transaction, served by one eligible standby chosen by weight (the primary when none is
    /// eligible, with <c>SET TRANSACTION READ ONLY</c> so it stays read-only there too). Every statement of it runs on
    /// that one server, so they all see the same snapshot.
    /// </summary>
    public ValueTask<RoutingTransaction> BeginReadOnlyTransactionAsync(IsolationLevel isolationLevel = IsolationLevel.Unspecified, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(StartTransaction(isolationLevel, readOnly: true));
    }

    /// <summary>
    /// The escape hatch for Npgsql-only APIs (binary COPY, type reloading, notifications, ...): pins this logical
    /// connection to the primary and returns that physical <see cref="NpgsqlConnection"/>. It stays pinned until this
    /// connection closes; do not close or dispose the returned connection yourself.
    /// </summary>
    public async ValueTask<NpgsqlConnection> GetNpgsqlConnectionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfNotOpen();
        return await PinToPrimaryAsync(async: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns schema information from the primary (see <see cref="NpgsqlConnection.GetSchema(string)"/>).</summary>
    public override DataTable GetSchema() => GetSchema("MetaDataCollections");

    /// <inheritdoc cref="GetSchema()" />
    public override DataTable GetSchema(string collectionName) => GetSchema(collectionName, []);

    /// <inheritdoc cref="GetSchema()" />
    public override DataTable GetSchema(string collectionName, string?[] restrictionValues)
    {
        ThrowIfNotOpen();
        var lease = SyncPath.Wait(AcquireForPrimary(async: false, CancellationToken.None));
        try
        {
            return lease.Connection.GetSchema(collectionName, restrictionValues);
        }
        finally
        {
            Release(lease);
        }
    }

    // The only two transitions a routing connection makes; the event arguments are immutable, so shared.
    private static readonly StateChangeEventArgs Opened = new(ConnectionState.Closed, ConnectionState.Open);
    private static readonly StateChangeEventArgs Closed = new(ConnectionState.Open, ConnectionState.Closed);

    private void SetState(ConnectionState next)
    {
        var old = _state;
        _state = next;
        if (old != next)
            OnStateChange(next == ConnectionState.Open ? Opened : Closed);
    }

    internal void ThrowIfNotOpen()
    {
        if (_state != ConnectionState.Open)
            throw new InvalidOperationException("The connection is not open.");
    }

    /// <summary>The physical connection currently pinned, if any (for tests and diagnostics).</summary>
    internal NpgsqlConnection? PinnedConnection => _pinned;
}
