using System.Data.Common;
using System.Globalization;
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
    private long _lastWrite; // TimeProvider timestamp of the last write acknowledged through this data source

    internal PgRoutingDataSource(Backend[] backends, RoutingOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Backends = backends;
        Options = options;
        Time = time;
        Logger = loggerFactory.CreateLogger("RoutingDataSource");
        Classifier = new SqlClassifier(options.ClassificationCacheSize);
        Volatility = new FunctionVolatilityCache(options.ReadOnlyFunctions, options.WriteFunctions, Logger, time);
        Router = new Router(Volatility);
        Balancer = options.PreferLowerLagStandby ? new LeastLagBalancer() : new WeightedRoundRobinBalancer();
        Monitor = new TopologyMonitor(backends, options, Logger, time);
        Metrics = new RoutingMetrics(() => Monitor.Current);
        Failover = new FailoverRetry(options, time, Metrics);
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
        if (!BackendConnectionString.TryParse(connectionString, out var csb, out var error))
            throw new RoutingConfigurationException([error!]);
        if (string.IsNullOrWhiteSpace(csb.Host))
            throw new RoutingConfigurationException(["the connection string has no Host."]);
        csb.Remove("Target Session Attributes");
        csb.Remove("Load Balance Hosts");
        var builder = new PgRoutingDataSourceBuilder();
        foreach (var entry in csb.Host.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (host, port) = SplitHostPort(entry, csb.Port);
            var one = new NpgsqlConnectionStringBuilder(csb.ConnectionString) { Host = host, Port = port };
            builder.AddBackend(string.Create(CultureInfo.InvariantCulture, $"{host}:{port}"), one.ConnectionString);
        }
        return builder.Build();
    }

    private static (string Host, int Port) SplitHostPort(string entry, int defaultPort)
    {
        // "[::1]:5432", "host:5432", "host", "::1"
        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf(']', StringComparison.Ordinal);
            if (close > 0)
            {
                var h = entry[1..close];
                return close + 2 < entry.Length && entry[close + 1] == ':' && int.TryParse(entry[(close + 2)..], CultureInfo.InvariantCulture, out var p6) ? (h, p6) : (h, defaultPort);
            }
        }
        var colon = entry.LastIndexOf(':');
        if (colon > 0 && entry.IndexOf(':', StringComparison.Ordinal) == colon && int.TryParse(entry[(colon + 1)..], CultureInfo.InvariantCulture, out var port))
            return (entry[..colon], port);
        return (entry, defaultPort);
    }

    internal Backend[] Backends { get; }

    internal RoutingOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    internal SqlClassifier Classifier { get; }

    internal FunctionVolatilityCache Volatility { get; }

    internal Router Router { get; }

    internal IReadBalancer Balancer { get; }

    internal TopologyMonitor Monitor { get; }

    internal FailoverRetry Failover { get; }

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
        var node = await GetPrimaryAsync(cancellationToken).ConfigureAwait(false);
        return await node.Backend.Pool.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a physical <see cref="NpgsqlConnection"/> on one eligible standby chosen by weight (the primary when none
    /// is eligible), for read-only work that needs an Npgsql connection for its whole life, such as a read-only EF
    /// Core <c>DbContext</c>. Honors <see cref="ReadYourWritesScope.DataSource"/> and the lag limits at the moment it
    /// opens; a long-lived connection is not moved if its standby later falls behind. Nothing on it is routed.
    /// </summary>
    public async ValueTask<NpgsqlConnection> OpenStandbyConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var session = CreateConnection();
        var node = await GetReadNodeAsync(session, cancellationToken).ConfigureAwait(false);
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
        return StatusOf(Monitor.Current);
    }

    /// <summary>Probes every backend now and returns the status that results.</summary>
    public async Task<ClusterStatus> RefreshStatusAsync(CancellationToken cancellationToken = default)
        => StatusOf(await Monitor.ProbeNowAsync(cancellationToken).ConfigureAwait(false));

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

    internal static ClusterStatus StatusOf(ClusterSnapshot s)
    {
        var rows = new BackendStatus[s.Nodes.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var n = s.Nodes[i];
            var b = n.Backend;
            rows[i] = new BackendStatus(b.Name, b.Host, b.Port)
            {
                Role = n.Role,
                State = n.State,
                Weight = b.Weight,
                ReadCount = b.Reads,
                WriteCount = b.Writes,
                RerouteCount = b.Reroutes,
                RetryCount = b.Retries,
                LagBytes = n.LagBytes,
                Lag = n.Lag,
                Timeline = n.Timeline,
                ReplayPaused = n.ReplayPaused,
                SyncState = n.SyncState,
                WalReceiverStatus = n.WalReceiverStatus,
                LastStatusChange = n.LastStatusChange,
                ServesReads = n.ReadEligible && b.Weight > 0,
                Reason = n.Reason,
                LastError = n.LastError,
            };
        }
        return new ClusterStatus(rows, s.Primary?.Backend.Name, s.Problem, s.TakenAt);
    }

    private void OnSnapshot(ClusterSnapshot previous, ClusterSnapshot next)
    {
        if (previous.Primary is { } was && !ReferenceEquals(was.Backend, next.Primary?.Backend))
            Metrics.Failover(was.Backend.Name, next.Primary?.Backend.Name);
        // Any up server has the same catalog; prefer the primary, but a standby will do during an outage.
        var source = next.Primary ?? Array.Find(next.Nodes, n => n.LastProbeOk && n.State == BackendState.Up);
        if (source is not null)
            Volatility.OnCatalogSource(source.Backend.Pool);
    }

    /// <summary>The write target, waiting (up to <see cref="RoutingOptions.FailoverTimeout"/>) while there is none.</summary>
    internal ValueTask<NodeState> GetPrimaryAsync(CancellationToken cancellationToken)
    {
        var s = Monitor.Current;
        return IsUsablePrimary(s) ? new ValueTask<NodeState>(s.Primary!) : WaitForPrimaryAsync(cancellationToken);
    }

    private async ValueTask<NodeState> WaitForPrimaryAsync(CancellationToken cancellationToken)
    {
        ClusterSnapshot s;
        Monitor.EnsureStarted();
        var deadline = Time.GetUtcNow() + Options.FailoverTimeout;
        while (true)
        {
            s = Monitor.Current;
            if (IsUsablePrimary(s))
                return s.Primary!;
            if (s.Version > 0 && s.Primary is null && s.Problem is { } problem && problem.StartsWith("two primaries", StringComparison.Ordinal))
            {
                throw new RoutingException(RoutingFailure.TwoPrimaries,
                    $"No writable primary: {problem}. Writes fail until one of them is demoted or fenced (the failover coordinator does this).",
                    clusterState: problem);
            }
            var left = deadline - Time.GetUtcNow();
            if (left <= TimeSpan.Zero)
                throw NoPrimary(s);
            var next = Monitor.NextSnapshotAsync(cancellationToken);
            if (s.Version > 0)
                Monitor.RequestProbe();
            try
            {
                await next.WaitAsync(left, Time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw NoPrimary(Monitor.Current);
            }
        }
    }

    /// <summary>
    /// A primary writes may go to: its last probe answered, and no statement failed on it since that probe started.
    /// Otherwise writes wait for the next round (a failover may be under way).
    /// </summary>
    private static bool IsUsablePrimary(ClusterSnapshot s)
        => s.Primary is { LastProbeOk: true } p && !p.Backend.IsSuspectAfter(s.StartedTimestamp);

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
        try
        {
            return await RunUnitOnceAsync(work, cancellationToken).ConfigureAwait(false);
        }
        catch (RetryableFailure first)
        {
            Failover.Count(first.Backend);
            return await Failover.RunAsync(first.Route, (_, ct) => RunUnitOnceAsync(work, ct), cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask<T> RunUnitOnceAsync<T>(Func<RoutingConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var conn = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = conn.BeginTransaction();
        T result;
        try
        {
            result = await work(conn, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (UnitOfWork.MayRerun(e))
        {
            throw new RetryableFailure(Routing.StatementRoute.PrimaryWrite, e, UnitOfWork.BackendOf(e, this), immediate: false);
        }
        try
        {
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is "40001" or "40P01")
        {
            throw new RetryableFailure(Routing.StatementRoute.PrimaryWrite, e, null, immediate: false); // refused at commit: nothing committed
        }
        catch (Exception e) when (UnitOfWork.MayRerun(e) && e is not RoutingException { Failure: RoutingFailure.NoPrimary })
        {
            throw new RoutingException(RoutingFailure.ConnectionLost,
                "The connection was lost during COMMIT: the unit of work may or may not have committed, so it was not run again. Check before re-running it.",
                e, UnitOfWork.BackendOf(e, this)?.Name, mayHaveCommitted: true, clusterState: Monitor.Current.Problem);
        }
        return result;
    }

    internal long LastWrite => Volatile.Read(ref _lastWrite);

    /// <summary>Remembers that a write was acknowledged at <paramref name="timestamp"/> (for the DataSource scope).</summary>
    internal void MarkWrite(long timestamp)
    {
        var seen = Volatile.Read(ref _lastWrite);
        while (timestamp > seen)
        {
            var was = Interlocked.CompareExchange(ref _lastWrite, timestamp, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>
    /// A node to serve a read for <paramref name="session"/>: an eligible standby that has replayed what the session
    /// must see, waiting up to <see cref="RoutingOptions.ReadYourWritesWait"/> for one; else the primary.
    /// </summary>
    internal ValueTask<NodeState> GetReadNodeAsync(RoutingConnection session, CancellationToken cancellationToken)
    {
        // The common case answers from the current snapshot without an async state machine.
        var s = Monitor.Current;
        if (s.Version != 0 && Balancer.Pick(s, session.RequiredLsn(s)) is { } node)
            return new ValueTask<NodeState>(node);
        return GetReadNodeSlowAsync(session, cancellationToken);
    }

    private async ValueTask<NodeState> GetReadNodeSlowAsync(RoutingConnection session, CancellationToken cancellationToken)
    {
        var s = Monitor.Current;
        if (s.Version == 0)
            s = await Monitor.GetReadyAsync(Options.FailoverTimeout, cancellationToken).ConfigureAwait(false);
        var minimum = session.RequiredLsn(s);
        if (Balancer.Pick(s, minimum) is { } node)
            return node;
        if (minimum != 0)
        {
            // Behind only because no probe has sampled the primary since the write: ask for one now.
            if (minimum == ReadRequirement.Unresolved)
                Monitor.RequestProbe();
            if (Options.ReadYourWritesWait > TimeSpan.Zero && s.ReadCandidates.Length > 0)
            {
                var deadline = Time.GetTimestamp() + (long)(Options.ReadYourWritesWait.TotalSeconds * Time.TimestampFrequency);
                while (Time.GetTimestamp() < deadline)
                {
                    var left = TimeSpan.FromSeconds((double)(deadline - Time.GetTimestamp()) / Time.TimestampFrequency);
                    try
                    {
                        Monitor.RequestProbe();
                        s = await Monitor.NextSnapshotAsync(cancellationToken).WaitAsync(left, Time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                        break;
                    }
                    if (Balancer.Pick(s, session.RequiredLsn(s)) is { } caughtUp)
                        return caughtUp;
                }
            }
        }
        return await GetPrimaryAsync(cancellationToken).ConfigureAwait(false);
    }

    private RoutingException NoPrimary(ClusterSnapshot s)
    {
        var detail = string.Join("; ", s.Nodes.Select(n =>
            $"{n.Backend.Name} ({n.Backend.Host}:{n.Backend.Port.ToString(CultureInfo.InvariantCulture)}): {n.Role.ToString().ToLowerInvariant()}, {n.State.ToString().ToLowerInvariant()}"
            + (n.LastError is { } e ? $", last error: {e}" : "")
            + (n.Reason is { } r && n.LastError is null ? $", {r}" : "")));
        return new RoutingException(RoutingFailure.NoPrimary,
            $"No writable primary after waiting {Options.FailoverTimeout.TotalSeconds:0.#} s ({s.Problem ?? "none found"}). Nothing was sent; retry later. Backends: {detail}.",
            clusterState: s.Problem);
    }

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
