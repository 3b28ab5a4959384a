using System.Collections.Concurrent;
using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingDataSource.Diagnostics;

namespace RoutingDataSource.Routing;

/// <summary>
/// Resolves whether a called function may run on a standby, from <c>pg_proc.provolatile</c> (read on the primary when there is one), once per
/// name for the data source's life. Lookups never block routing: an unknown name answers <see cref="FunctionSafety.Unknown"/>
/// (the statement goes to the primary) and is resolved in the background. The first time a primary is seen, every
/// function name of the database is loaded in one query, so ordinary built-ins are known before the first read.
/// </summary>
internal sealed class FunctionVolatilityCache
{
    // A name that pg_proc did not have may be created later (a migration): ask again after this long.
    private static readonly TimeSpan NotFoundRetry = TimeSpan.FromSeconds(30);

    private const string AllFunctionsSql = """
        SELECT p.proname, n.nspname, bool_or(p.provolatile = 'v')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        GROUP BY p.proname, n.nspname
        """;

    private const string OneFunctionSql = """
        SELECT bool_or(p.provolatile = 'v')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = $1 AND ($2::text IS NULL OR n.nspname = $2)
        """;

    private readonly ConcurrentDictionary<string, FunctionSafety> _known = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _pending = new(StringComparer.Ordinal);
    private readonly FrozenSet<string> _readOnly;
    private readonly FrozenSet<string> _write;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private NpgsqlDataSource? _primary;
    private int _preloadState; // 0 not started, 1 running, 2 done

    public FunctionVolatilityCache(IEnumerable<string> readOnly, IEnumerable<string> write, ILogger logger, TimeProvider time)
    {
        _readOnly = readOnly.Select(static s => s.ToLowerInvariant()).ToFrozenSet(StringComparer.Ordinal);
        _write = write.Select(static s => s.ToLowerInvariant()).ToFrozenSet(StringComparer.Ordinal);
        _logger = logger;
        _time = time;
    }

    public bool IsPreloaded => Volatile.Read(ref _preloadState) == 2;

    /// <summary>Completes when the one-time preload of every function name has finished (or failed).</summary>
    public Task Preloaded => _preloaded.Task;

    private readonly TaskCompletionSource _preloaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Safety of one function name (lower-cased, schema kept when written). Never blocks, never throws.</summary>
    public FunctionSafety Get(string name)
    {
        if (_write.Count != 0 && _write.Contains(name))
            return FunctionSafety.Write;
        if (_readOnly.Count != 0 && _readOnly.Contains(name))
            return FunctionSafety.Read;
        // Volatile in pg_proc but only reads (random, clock_timestamp, pg_sleep...): safe on a standby.
        if (Classification.BuiltinFunctions.IsReadSafe(name))
            return FunctionSafety.Read;
        if (_known.TryGetValue(name, out var s))
            return s;
        ScheduleLookup(name);
        return FunctionSafety.Unknown;
    }

    /// <summary>Called after each probe round with a server to read <c>pg_proc</c> from (the primary when there is one); starts the one-time preload.</summary>
    public void OnCatalogSource(NpgsqlDataSource primary)
    {
        Volatile.Write(ref _primary, primary);
        if (Interlocked.CompareExchange(ref _preloadState, 1, 0) == 0)
            _ = Task.Run(() => PreloadAsync(primary));
    }

    /// <summary>Waits (bounded) for the one-time preload; for tests and warm-up.</summary>
    public async Task WaitForPreloadAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + timeout;
        while (!IsPreloaded && _time.GetUtcNow() < deadline)
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
    }

    private async Task PreloadAsync(NpgsqlDataSource primary)
    {
        try
        {
            await using var cmd = primary.CreateCommand(AllFunctionsSql);
            await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            var unqualified = new Dictionary<string, bool>(StringComparer.Ordinal);
            while (await r.ReadAsync().ConfigureAwait(false))
            {
                var name = r.GetString(0);
                var schema = r.GetString(1);
                var volatileAny = r.GetBoolean(2);
                _known[schema + "." + name] = volatileAny ? FunctionSafety.Write : FunctionSafety.Read;
                // Unqualified: volatile if any schema's overload is, since search_path decides which one runs.
                unqualified[name] = unqualified.TryGetValue(name, out var v) ? v || volatileAny : volatileAny;
            }
            foreach (var (name, v) in unqualified)
                _known[name] = v ? FunctionSafety.Write : FunctionSafety.Read;
            Volatile.Write(ref _preloadState, 2);
            _preloaded.TrySetResult();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            Log.VolatilityLookupFailed(_logger, e.Message);
            Volatile.Write(ref _preloadState, 0); // the next probe round tries again
            _preloaded.TrySetResult(); // waiters go on without it: unknown functions stay on the primary
        }
    }

    private void ScheduleLookup(string name)
    {
        var now = _time.GetUtcNow();
        if (_pending.TryGetValue(name, out var retryAt) && now < retryAt)
            return;
        if (Volatile.Read(ref _primary) is not { } primary)
            return;
        _pending[name] = now + NotFoundRetry;
        _ = Task.Run(() => LookupAsync(primary, name));
    }

    private async Task LookupAsync(NpgsqlDataSource primary, string name)
    {
        try
        {
            var dot = name.LastIndexOf('.');
            await using var cmd = primary.CreateCommand(OneFunctionSql);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dot < 0 ? name : name[(dot + 1)..] });
            cmd.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = dot < 0 ? null : name[..dot], NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            var result = await cmd.ExecuteScalarAsync().ConfigureAwait(false);
            if (result is bool isVolatile)
            {
                _known[name] = isVolatile ? FunctionSafety.Write : FunctionSafety.Read;
                _pending.TryRemove(name, out _);
            }
            // Not found: stays Unknown (a write) and is asked again after NotFoundRetry.
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            Log.VolatilityLookupFailed(_logger, e.Message);
        }
    }
}
