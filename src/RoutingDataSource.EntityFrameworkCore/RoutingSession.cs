using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;
using RoutingDataSource.Connections;
using RoutingDataSource.Topology;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// The routing state of one context (one lease, with pooling): its logical <see cref="RoutingConnection"/> (pins,
/// session state, read-your-writes), the EF commands whose readers are open on routed physical connections, and which
/// backend the context's own connection is on. A scoped EF service, reset when a pooled context goes back to the pool.
/// </summary>
internal sealed class RoutingSession(IDbContextOptions options) : IResettableService, IDisposable, IAsyncDisposable
{
    private readonly PrimaryDataSource _primary = options.FindExtension<RoutingOptionsExtension>()!.DataSource;
    private RoutingConnection? _connection;
    private ExternalCommand? _idle; // the command runner kept for the next statement
    private readonly List<ExternalCommand> _open = []; // runners whose reader EF has not disposed yet
    private NpgsqlCommand? _positionedCommit;

    public PgRoutingDataSource DataSource => _primary.Routing;

    /// <summary>The logical connection every routed statement of this context runs on. Opening it contacts no server.</summary>
    public RoutingConnection Connection
    {
        get
        {
            var c = _connection ??= DataSource.CreateConnection();
            if (c.State == System.Data.ConnectionState.Closed)
                c.Open();
            return c;
        }
    }

    /// <summary>The context's own connection (EF's DbConnection), once EF has asked for it.</summary>
    public NpgsqlConnection? ContextConnection { get; private set; }

    /// <summary>The backend the context's own connection targets.</summary>
    public Backend? ContextConnectionBackend { get; private set; }

    /// <summary>
    /// The context's connection was moved to a standby for the read-only transaction about to begin
    /// (<see cref="RoutingDatabaseFacadeExtensions.BeginReadOnlyTransactionAsync"/>): EF opens it and begins there.
    /// </summary>
    public bool ReadOnlyPending { get; set; }

    /// <summary>While migrations run (<see cref="RoutingMigrator"/>): EF's opens of the context's connection really open it.</summary>
    public bool OpensContextConnection { get; set; }

    /// <summary>The transaction about to begin is a read-only one on the primary fallback: made read-only once begun.</summary>
    public bool ReadOnlyOnPrimary { get; set; }

    /// <summary>A transaction has begun: clears the read-only flags; true when it must still be made read-only.</summary>
    public bool TransactionBegun()
    {
        var makeReadOnly = ReadOnlyOnPrimary;
        ReadOnlyPending = false;
        ReadOnlyOnPrimary = false;
        return makeReadOnly;
    }

    /// <summary>Whether the current EF transaction ran anything but reads (its commit then counts for read-your-writes).</summary>
    public bool TransactionWrote { get; set; }

    /// <summary>The commit position the current transaction's COMMIT read (0: not read; see <see cref="RoutingInterceptor"/>).</summary>
    public ulong CommitLsn { get; set; }

    /// <summary>COMMIT followed by the commit position's SELECT, for the context's own connection.</summary>
    public NpgsqlCommand PositionedCommit => _positionedCommit ??= new NpgsqlCommand("COMMIT;" + CommitPosition.Sql);

    /// <summary>The last failure of this context was on COMMIT: the execution strategy must not re-run the unit blindly.</summary>
    public bool CommitFailed { get; set; }

    public static RoutingSession? Of(DbContext? context)
        => context is null ? null : ((IInfrastructure<IServiceProvider>)context).Instance.GetService(typeof(RoutingSession)) as RoutingSession;

    /// <summary>Creates the context's own connection, on the current primary.</summary>
    public NpgsqlConnection CreateContextConnection()
    {
        var backend = _primary.Backend;
        var connection = backend.Pool.CreateConnection();
        ContextConnectionMovedTo(connection, backend);
        return connection;
    }

    /// <summary>The context's connection is now <paramref name="connection"/>, on <paramref name="backend"/> (a read-only transaction's standby).</summary>
    public void ContextConnectionMovedTo(NpgsqlConnection connection, Backend backend)
    {
        ContextConnection = connection;
        ContextConnectionBackend = backend;
    }

    /// <summary>Whether the context's own connection targets a server the monitor no longer calls the primary.</summary>
    public bool ContextConnectionIsStale
        => ContextConnectionBackend is { } b && DataSource.Monitor.Current.Primary is { } p && !ReferenceEquals(p.Backend, b);

    public ExternalCommand Rent(NpgsqlCommand command)
    {
        var runner = _idle ?? new ExternalCommand();
        _idle = null;
        runner.Start(command);
        return runner;
    }

    /// <summary>The statement is over (or failed): the command goes back to EF's connection, the runner to the cache.</summary>
    public void Return(ExternalCommand runner)
    {
        runner.Finish();
        if (!runner.Abandoned)
            _idle ??= runner;
    }

    /// <summary>EF now reads the Npgsql reader inside <paramref name="runner"/>'s routed reader.</summary>
    public void ReaderOpened(ExternalCommand runner) => _open.Add(runner);

    /// <summary>
    /// EF has disposed the reader: forget it and put its runner back, closing its routed reader first when
    /// <paramref name="close"/> (a close that was suppressed or threw; closing again is a no-op).
    /// </summary>
    public void ReaderDone(ExternalCommand runner, bool close)
    {
        if (close && !runner.Reader.IsClosed)
        {
            try
            {
                runner.Reader.Close();
            }
            finally
            {
                runner.Restore();
            }
        }
        for (var i = 0; i < _open.Count; i++)
        {
            if (ReferenceEquals(_open[i], runner))
            {
                _open.RemoveAt(i);
                break;
            }
        }
        Return(runner);
    }

    /// <summary>A command EF runs in a transaction on the context's own connection: counted, and marks the transaction as a writer unless it reads.</summary>
    public void CountInTransaction(string commandText)
    {
        var read = DataSource.Classifier.Classify(commandText).Kind == StatementKind.Read;
        if (!read)
            TransactionWrote = true;
        if (ContextConnectionBackend is not { } backend)
            return;
        if (read)
            backend.CountReads(1);
        else
            backend.CountWrites(1);
    }

    public void ResetState() => Reset();

    public Task ResetStateAsync(CancellationToken cancellationToken = default)
    {
        Reset();
        return Task.CompletedTask;
    }

    // A pooled context starts its next lease as a new one would: no pin, no session state, no marks. Readers left open
    // were EF's to dispose, and EF disposes them before it resets; closing the logical connection releases the rest.
    private void Reset()
    {
        foreach (var runner in _open)
        {
            runner.Reader.Close();
            Return(runner);
        }
        _open.Clear();
        _connection?.Close();
        ReadOnlyPending = false;
        ReadOnlyOnPrimary = false;
        OpensContextConnection = false;
        TransactionWrote = false;
        CommitLsn = 0;
        CommitFailed = false;
    }

    public void Dispose() => Reset();

    public ValueTask DisposeAsync()
    {
        Reset();
        return default;
    }
}
