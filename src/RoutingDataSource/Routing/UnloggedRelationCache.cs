using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Diagnostics;

namespace RoutingDataSource.Routing;

/// <summary>
/// The names of the database's unlogged tables and sequences (<c>pg_class.relpersistence = 'u'</c>), which a standby
/// cannot read (0A000): a read that mentions one goes to the primary from the start instead of paying a refused attempt.
/// Loaded in one query the first time the data source sees a catalog source (as <see cref="FunctionVolatilityCache"/>
/// loads function volatility), learnt at once from a <c>CREATE UNLOGGED TABLE</c> run through the data source, and
/// loaded again after a standby refused a read for touching one (a table made unlogged elsewhere). Lookups never block
/// and allocate nothing; with no unlogged relation in the database they cost one field read.
/// </summary>
internal sealed class UnloggedRelationCache(ILogger logger, TimeProvider time)
{
    // Reloads after refusals are at most this frequent.
    private static readonly TimeSpan ReloadSpacing = TimeSpan.FromSeconds(1);

    private const string UnloggedSql = "SELECT relname FROM pg_class WHERE relpersistence = 'u' AND relkind IN ('r', 'p', 'S', 'm')";

    private FrozenSet<string> _names = FrozenSet<string>.Empty;
    private readonly Lock _learning = new();
    private int _state; // 0 never loaded, 1 loading, 2 loaded
    private int _reloadRequested;
    private long _loadedAt;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first load has finished (or failed).</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>Whether <paramref name="c"/> mentions an unlogged relation (by name, whatever the schema: a near miss only costs a read on the primary).</summary>
    public bool Touches(SqlClassification c)
    {
        var names = Volatile.Read(ref _names);
        return names.Count != 0 && RelationNames.MentionsAny(c, names);
    }

    /// <summary>An unlogged relation made through the data source: known at once.</summary>
    public void Learn(string name)
    {
        lock (_learning)
        {
            if (!_names.Contains(name))
                Volatile.Write(ref _names, _names.Append(name).ToFrozenSet(RelationNames.Comparer));
        }
    }

    /// <summary>A standby refused a read as touching an unlogged relation: load the names again at the next chance.</summary>
    public void RequestReload() => Volatile.Write(ref _reloadRequested, 1);

    /// <summary>Called after each probe round with a server to read <c>pg_class</c> from: the first load, and reloads asked for.</summary>
    public void OnCatalogSource(NpgsqlDataSource source)
    {
        var state = Volatile.Read(ref _state);
        if (state == 1)
            return;
        if (state == 2 && (Volatile.Read(ref _reloadRequested) == 0 || time.GetElapsedTime(Volatile.Read(ref _loadedAt)) < ReloadSpacing))
            return;
        if (Interlocked.CompareExchange(ref _state, 1, state) != state)
            return;
        Volatile.Write(ref _reloadRequested, 0);
        _ = Task.Run(() => LoadAsync(source, state));
    }

    private async Task LoadAsync(NpgsqlDataSource source, int previous)
    {
        try
        {
            await using var cmd = source.CreateCommand(UnloggedSql);
            await using var r = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
            var names = new HashSet<string>(RelationNames.Comparer);
            while (await r.ReadAsync().ConfigureAwait(false))
                names.Add(r.GetString(0));
            lock (_learning)
                Volatile.Write(ref _names, names.ToFrozenSet(RelationNames.Comparer));
            Volatile.Write(ref _loadedAt, time.GetTimestamp());
            Volatile.Write(ref _state, 2);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            Log.UnloggedLookupFailed(logger, e.Message);
            Volatile.Write(ref _state, previous); // the next probe round tries again
        }
        _loaded.TrySetResult();
    }
}
