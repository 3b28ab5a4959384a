using System.Data.Common;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

/// <summary>
/// A <see cref="DbDataSource"/> over a PostgreSQL streaming-replication cluster. Connections it hands out look like
/// one database: each statement is classified and sent to the primary (writes, session state, read-write
/// transactions) or to a standby chosen by weight (reads, read-only transactions), skipping standbys that are down,
/// lag too far or have not replayed the session's own writes. Build one with <see cref="PgRoutingDataSourceBuilder"/>
/// or <see cref="Create"/>, keep it for the application's lifetime (it owns one pool per backend and a background
/// health monitor), and dispose it at shutdown.
/// </summary>
public sealed class PgRoutingDataSource : DbDataSource
{
    private readonly string _description;
    private int _disposed;

    internal PgRoutingDataSource(Backend[] backends, RoutingOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Backends = backends;
        Options = options;
        Time = time;
        Logger = loggerFactory.CreateLogger("RoutingDataSource");
        Classifier = new SqlClassifier(options.ClassificationCacheSize);
        Volatility = new FunctionVolatilityCache(options.ReadOnlyFunctions, options.WriteFunctions, Logger, time);
        Unlogged = new UnloggedRelationCache(Logger, time);
        Router = new Router(Volatility, Unlogged);
        Balancer = options.PreferLowerLagStandby ? new LeastLagBalancer() : new WeightedRoundRobinBalancer();
        Monitor = new TopologyMonitor(backends, options, Logger, time);
        Metrics = new RoutingMetrics(() => Monitor.Current);
        Failover = new FailoverRetry(options, time, Metrics);
        Selector = new BackendSelector(Monitor, Balancer, options, time);
        Failures = new FailureServices(Monitor, Metrics, Logger, time);
        _unitOfWork = new UnitOfWork(Failover, Monitor, backends);
        Monitor.SnapshotPublished += OnSnapshot;
        var first = new NpgsqlConnectionStringBuilder(backends[0].Pool.ConnectionString);
        Database = first.Database;
        _description = BackendConnectionString.Describe(backends, first.Database, first.Username);
    }

    /// <summary>
    /// Builds a data source from one Npgsql multi-host connection string (<c>Host=a:5432,b:5433,...</c>): one backend
    /// per host, named <c>host:port</c>, all with weight 1. <c>Target Session Attributes</c> and
    /// <c>Load Balance Hosts</c> are ignored: routing decides per statement. For weights or names, use the builder.
    /// </summary>
    /// <exception cref="RoutingConfigurationException">The string is invalid.</exception>
    public static PgRoutingDataSource Create(string connectionString)
    {
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var (name, backend) in BackendConnectionString.SplitHosts(connectionString))
            builder.AddBackend(name, backend);
        return builder.Build();
    }
    internal Backend[] Backends { get; }

    internal RoutingOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal SqlClassifier Classifier { get; }

    internal FunctionVolatilityCache Volatility { get; }

    internal UnloggedRelationCache Unlogged { get; }

    internal Router Router { get; }

    internal IReadBalancer Balancer { get; }

    internal TopologyMonitor Monitor { get; }

    internal FailoverRetry Failover { get; }

    /// <summary>Picks the primary or a standby for a routing decision (and waits for one when needed).</summary>
    internal BackendSelector Selector { get; }

    /// <summary>What a failed statement sets off: the backend suspect, a re-probe, metrics, logs.</summary>
    internal FailureServices Failures { get; }

    private readonly UnitOfWork _unitOfWork;

    internal RoutingMetrics Metrics { get; }

    /// <summary>The database name of the first backend.</summary>
    internal string? Database { get; }

    /// <summary>A description of the cluster's hosts, database and user. Never contains a password.</summary>
    public override string ConnectionString => _description;

    /// <summary>Creates a closed routing connection. Opening it contacts no server.</summary>
    public new RoutingConnection CreateConnection()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return new RoutingConnection(this);
    }

    /// <summary>Returns an open routing connection. No server is contacted until the first statement.</summary>
    public new RoutingConnection OpenConnection()
    {
        var c = CreateConnection();
        c.Open();
        return c;
    }

    /// <summary>Returns an open routing connection. No server is contacted until the first statement.</summary>
    public new ValueTask<RoutingConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(OpenConnection());
    }

    /// <summary>
    /// Returns an open routing connection whose reads see at least everything the causality token covers: a standby
    /// serves them only once it has replayed that far (else the primary does). The token comes from
    /// <see cref="RoutingConnection.GetCausalityToken"/>, possibly in another process or data source instance.
    /// </summary>
    /// <exception cref="ArgumentException">The token is not one this library produced.</exception>
    public ValueTask<RoutingConnection> OpenConnectionAsync(string causalityToken, CancellationToken cancellationToken = default)
    {
        var lsn = CausalityToken.Parse(causalityToken);
        cancellationToken.ThrowIfCancellationRequested();
        var c = OpenConnection();
        c.RequireAtLeast(lsn);
        return ValueTask.FromResult(c);
    }

    /// <summary>
    /// Opens a physical <see cref="NpgsqlConnection"/> on the current primary (waiting up to
    /// <see cref="RoutingOptions.FailoverTimeout"/> for one), for code that needs an Npgsql connection for its whole
    /// life, such as an EF Core <c>DbContext</c> that writes. Nothing on it is routed: every statement runs on that
    /// server. Statements sent on it are not counted in <see cref="GetStatus"/>.
    /// </summary>
    public async ValueTask<NpgsqlConnection> OpenPrimaryConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var node = await Selector.PrimaryAsync(cancellationToken).ConfigureAwait(false);
        return await node.Backend.Pool.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a physical <see cref="NpgsqlConnection"/> on one eligible standby chosen by weight (the primary when none
    /// is eligible, unless <see cref="RoutingOptions.PrimaryServesReads"/> is <see cref="PrimaryReadMode.Never"/>), for read-only work that needs an Npgsql connection for its whole life, such as a read-only EF
    /// Core <c>DbContext</c>. Honors <see cref="ReadYourWritesScope.DataSource"/> and the lag limits at the moment it
    /// opens; a long-lived connection is not moved if its standby later falls behind. Nothing on it is routed.
    /// </summary>
    public async ValueTask<NpgsqlConnection> OpenStandbyConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var node = await Selector.ReadNodeAsync(Routing.SessionState.Initial, guard: null, cancellationToken).ConfigureAwait(false);
        return await node.Backend.Pool.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override DbConnection CreateDbConnection() => CreateConnection();

    /// <inheritdoc />
    protected override DbConnection OpenDbConnection() => OpenConnection();

    /// <inheritdoc />
    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default)
        => await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The cluster as the data source sees it now: per backend its role, state, weight, statements routed there, lag
    /// and timeline, and the current primary. Starts the health monitor if it is not running yet.
    /// </summary>
    public ClusterStatus GetStatus()
    {
        Monitor.EnsureStarted();
        return ClusterStatus.From(Monitor.Current);
    }

    /// <summary>Probes every backend now and returns the status that results.</summary>
    public async Task<ClusterStatus> RefreshStatusAsync(CancellationToken cancellationToken = default)
        => ClusterStatus.From(await Monitor.ProbeNowAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Takes a backend out of rotation (it stays probed and visible in status). Takes effect at the next probe round, which is started at once.</summary>
    /// <exception cref="ArgumentException">No backend has that name.</exception>
    public void DetachBackend(string name) => SetDetached(name, true);

    /// <summary>Puts a detached backend back into rotation.</summary>
    /// <exception cref="ArgumentException">No backend has that name.</exception>
    public void AttachBackend(string name) => SetDetached(name, false);

    private void SetDetached(string name, bool detached)
    {
        var b = Array.Find(Backends, x => string.Equals(x.Name, name, StringComparison.Ordinal))
            ?? throw new ArgumentException($"No backend named '{name}'. Backends: {string.Join(", ", Backends.Select(x => x.Name))}.", nameof(name));
        b.Detached = detached;
        Monitor.RequestProbe();
    }

    private void OnSnapshot(ClusterSnapshot previous, ClusterSnapshot next)
    {
        if (previous.Primary is { } was && !ReferenceEquals(was.Backend, next.Primary?.Backend))
            Metrics.Failover(was.Backend.Name, next.Primary?.Backend.Name);
        // Any up server has the same catalog; prefer the primary, but a standby will do during an outage.
        var source = next.Primary ?? Array.Find(next.Nodes, n => n.LastProbeOk && n.State == BackendState.Up);
        if (source is not null)
        {
            Volatility.OnCatalogSource(source.Backend.Pool);
            Unlogged.OnCatalogSource(source.Backend.Pool);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> as one transaction on the primary and commits it; when the transaction is lost to
    /// a failover (the primary died or changed role, no primary yet) or to a serialization failure or deadlock
    /// (40001, 40P01), rolls back and runs the whole unit again on a fresh connection, with backoff, for up to
    /// <see cref="RoutingOptions.FailoverTimeout"/>. The unit must be safe to run more than once: transactional (all of
    /// its effects inside this transaction) or idempotent. It is never re-run when the failure hit the COMMIT itself
    /// (it may have committed): that surfaces as a <see cref="RoutingException"/> with
    /// <see cref="RoutingException.MayHaveCommitted"/> set.
    /// </summary>
    public async Task ExecuteAsync(Func<RoutingConnection, CancellationToken, Task> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        await ExecuteAsync<bool>(async (c, ct) =>
        {
            await work(c, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="ExecuteAsync(Func{RoutingConnection, CancellationToken, Task}, CancellationToken)" />
    public async Task<T> ExecuteAsync<T>(Func<RoutingConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return await _unitOfWork.RunAsync(OpenConnectionAsync, work, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The last write acknowledged through this data source (read-your-writes in the DataSource scope).</summary>
    internal long LastWrite => Selector.LastWrite;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            Connections.SyncPath.Wait(DisposeAsyncCore()); // ADO.NET's synchronous Dispose
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Monitor.DisposeAsync().ConfigureAwait(false);
        Metrics.Dispose();
        foreach (var b in Backends)
            await b.DisposeAsync().ConfigureAwait(false);
    }
}
