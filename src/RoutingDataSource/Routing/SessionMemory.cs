using RoutingDataSource.Classification;

namespace RoutingDataSource.Routing;

/// <summary>
/// What a logical connection's statements left in its server sessions, split the way routing needs it: the state
/// that travels (parameters, role, session authorization, prepared reads), kept as the statements that rebuild it on
/// another server session, and what lives in the primary session only (temporary objects; locks, held cursors and
/// LISTEN need no bookkeeping, their statements go there anyway). Pure: no I/O; the connection replays what a
/// physical connection lacks (<see cref="ReplaySql"/>) and tells it what ran.
/// </summary>
/// <remarks>
/// Positions: each change gets the next <see cref="Version"/>. A physical connection that holds the state up to
/// position p lacks the changes after p, which <see cref="ReplaySql"/> returns as the statements that ran (so a
/// RESET or a DEALLOCATE replays too); one that holds nothing (p = -1) gets the effective state, compacted. The
/// changes are kept back to the oldest position a held connection still has (<see cref="Trim"/>).
/// </remarks>
internal sealed class SessionMemory
{
    /// <summary>The position of a physical connection that holds none of the state.</summary>
    public const long Nothing = -1;

    private readonly List<Replay> _state = []; // the effective state from a fresh session, in order
    private readonly List<Replay> _changes = []; // the changes as they ran, after the oldest held position
    private readonly HashSet<string> _temporary = new(RelationNames.Comparer);
    private readonly Dictionary<string, bool> _prepared = new(StringComparer.Ordinal); // name: a standby may run it
    private List<Replay>? _inTransaction; // parameter changes of the open transaction: they count at its COMMIT
    private bool _uncertain;

    /// <summary>The position of the latest change (0: none yet).</summary>
    public long Version { get; private set; }

    /// <summary>There is state a server session must hold before it runs this connection's statements.</summary>
    public bool HasState => _state.Count > 0;

    /// <summary>The session holds temporary objects.</summary>
    public bool HasTemporary => _temporary.Count > 0;

    /// <summary>The prepared statements a standby session also holds (they are deallocated before it goes back to its pool).</summary>
    public IEnumerable<string> PreparedOnStandby => _prepared.Where(static p => p.Value).Select(static p => p.Key);

    /// <summary>The prepared statements of the primary session.</summary>
    public IEnumerable<string> Prepared => _prepared.Keys;

    /// <summary>
    /// Whether <paramref name="c"/> mentions one of the session's temporary objects (<c>pg_temp</c> comes first in the
    /// search path), or names anything in <c>pg_temp</c> (a function created there is called as <c>pg_temp.f()</c>).
    /// </summary>
    public bool TouchesTemporary(SqlClassification c)
        => _temporary.Count != 0 && (RelationNames.MentionsAny(c, _temporary) || Array.IndexOf(c.Relations, TempSchema) >= 0);

    private const string TempSchema = "pg_temp";

    /// <summary>Whether the statement prepared as <paramref name="name"/> is a read a standby may run; null when this session did not prepare it.</summary>
    public bool? PreparedRunsOnStandby(string name) => _prepared.TryGetValue(name, out var standby) ? standby : null;

    /// <summary>
    /// A statement with a modelled effect ran (<paramref name="inTransaction"/>: inside a transaction, where parameter
    /// changes count only at COMMIT). <paramref name="standbySafe"/> says for a PREPARE whether a standby may run it.
    /// </summary>
    public void Record(in SessionFacts facts, string sql, bool standbySafe, bool inTransaction)
    {
        sql = sql.TrimEnd().TrimEnd(';');
        switch (facts.Effect)
        {
            case SessionEffect.Set or SessionEffect.SetConfig or SessionEffect.Reset or SessionEffect.ResetAll or SessionEffect.Identity:
                var change = new Replay(0, facts.Effect, facts.Key ?? "", facts.ReplaySql ?? sql, Standby: true);
                if (inTransaction)
                    (_inTransaction ??= []).Add(change);
                else
                    Apply(change);
                break;
            case SessionEffect.Prepare:
                _prepared[facts.Key!] = standbySafe;
                Apply(new Replay(0, SessionEffect.Prepare, facts.Key!, sql, standbySafe));
                break;
            case SessionEffect.Deallocate when _prepared.Remove(facts.Key!, out var onStandby):
                Apply(new Replay(0, SessionEffect.Deallocate, facts.Key!, sql, onStandby));
                break;
            case SessionEffect.DeallocateAll:
                DeallocateAll();
                break;
            case SessionEffect.DiscardAll:
                DeallocateAll();
                _temporary.Clear();
                _inTransaction = null;
                Apply(new Replay(0, SessionEffect.DiscardAll, "", "SET SESSION AUTHORIZATION DEFAULT; RESET ALL", Standby: true));
                break;
            case SessionEffect.DiscardTemp:
                _temporary.Clear();
                break;
            case SessionEffect.CreateTemp:
                _temporary.Add(facts.Key!);
                break;
        }
    }

    /// <summary>
    /// A <c>CREATE VIEW/TABLE ... AS</c> over a temporary table makes a temporary object too (PostgreSQL says so in a
    /// notice): its name joins the temporary ones.
    /// </summary>
    public void NoteCreated(SqlClassification c)
    {
        if (c.Session.CreatedName is { } name && TouchesTemporary(c))
            _temporary.Add(name);
    }

    /// <summary>The open transaction committed: its parameter changes count now. False when a savepoint was rolled back over them (they are then not known).</summary>
    public bool CommitTransaction()
    {
        var pending = _inTransaction;
        var uncertain = _uncertain;
        _inTransaction = null;
        _uncertain = false;
        if (uncertain)
            return false;
        if (pending is not null)
        {
            foreach (var change in pending)
                Apply(change);
        }
        return true;
    }

    /// <summary>The open transaction rolled back (or was lost): its parameter changes never happened.</summary>
    public void DiscardTransaction()
    {
        _inTransaction = null;
        _uncertain = false;
    }

    /// <summary><c>ROLLBACK TO SAVEPOINT</c>: parameter changes since some savepoint are undone, which ones is not tracked.</summary>
    public void SavepointRolledBack()
    {
        if (_inTransaction is { Count: > 0 })
            _uncertain = true;
    }

    /// <summary>
    /// The statements that bring a physical connection at position <paramref name="from"/> up to <see cref="Version"/>
    /// (on a standby, <paramref name="standby"/>: only what a standby holds), as one text; null when it lacks nothing.
    /// </summary>
    public string? ReplaySql(long from, bool standby)
    {
        string? sql = null;
        foreach (var r in Missing(from, standby))
        {
            // A statement may end in a line comment: the separator starts on a line of its own.
            sql = sql is null ? r.Sql : string.Concat(sql, "\n;\n", r.Sql);
        }
        return sql;
    }

    /// <summary>
    /// The same statements one by one, when all of them can run in front of a read in the read's own round trip:
    /// none returns rows and a failed transaction undoes each (<c>SET</c>, <c>RESET</c>, <c>SET ROLE</c>, <c>SET
    /// SESSION AUTHORIZATION</c>; not <c>set_config</c>, which returns a row, nor <c>PREPARE</c>/<c>DEALLOCATE</c>,
    /// which a failed transaction does not undo). Null when nothing is missing or something cannot ride that way.
    /// In front of a write (<paramref name="intoWrite"/>), nothing that changes how a transaction starts may ride:
    /// the write's transaction has begun by then, so a carried <c>default_transaction_read_only</c> (or a
    /// <c>RESET ALL</c> of one) would not apply to it as it does when the SET ran before it.
    /// </summary>
    public List<string>? CarriableStatements(long from, bool standby, bool intoWrite = false)
    {
        List<string>? statements = null;
        foreach (var r in Missing(from, standby))
        {
            if (r.Effect is not (SessionEffect.Set or SessionEffect.Reset or SessionEffect.ResetAll or SessionEffect.Identity or SessionEffect.DiscardAll))
                return null;
            if (intoWrite && (r.Effect is SessionEffect.ResetAll or SessionEffect.DiscardAll || r.Key.StartsWith("default_transaction_", StringComparison.Ordinal)))
                return null;
            (statements ??= []).Add(r.Sql);
        }
        return statements;
    }

    private IEnumerable<Replay> Missing(long from, bool standby)
    {
        if (from >= Version)
            yield break;
        foreach (var r in from == Nothing ? _state : _changes)
        {
            if (r.Version > from && (!standby || r.Standby))
                yield return r;
        }
    }

    /// <summary>Forgets the changes no held physical connection lacks (every one is at <paramref name="oldest"/> or later).</summary>
    public void Trim(long oldest) => _changes.RemoveAll(r => r.Version <= oldest);

    private void DeallocateAll()
    {
        foreach (var (name, onStandby) in _prepared)
            Apply(new Replay(0, SessionEffect.Deallocate, name, "DEALLOCATE " + name, onStandby));
        _prepared.Clear();
    }

    private void Apply(Replay change)
    {
        change = change with { Version = ++Version };
        _changes.Add(change);
        switch (change.Effect)
        {
            case SessionEffect.Set or SessionEffect.SetConfig:
                _state.RemoveAll(r => r.Effect is SessionEffect.Set or SessionEffect.SetConfig && r.Key == change.Key);
                _state.Add(change);
                break;
            case SessionEffect.Reset:
                _state.RemoveAll(r => r.Effect is SessionEffect.Set or SessionEffect.SetConfig && r.Key == change.Key);
                break;
            case SessionEffect.ResetAll:
                // RESET ALL leaves the role and the session authorization alone.
                _state.RemoveAll(static r => r.Effect is SessionEffect.Set or SessionEffect.SetConfig);
                break;
            case SessionEffect.Identity:
                // The latest SET ROLE (or SESSION AUTHORIZATION) alone decides, and it came after every entry kept
                // before it: the earlier ones go (a role dropped since must not be replayed), a RESET leaves none.
                // SET / RESET SESSION AUTHORIZATION also resets the role (PostgreSQL): it ends an earlier SET ROLE.
                _state.RemoveAll(r => r.Effect == SessionEffect.Identity && (r.Key == change.Key || change.Key == "session_authorization"));
                if (!IsIdentityReset(change.Sql))
                    _state.Add(change);
                break;
            case SessionEffect.Prepare:
                _state.Add(change);
                break;
            case SessionEffect.Deallocate:
                _state.RemoveAll(r => r.Effect == SessionEffect.Prepare && r.Key == change.Key);
                break;
            case SessionEffect.DiscardAll:
                _state.Clear();
                break;
        }
    }

    /// <summary>Whether the session's effective state sets <paramref name="parameter"/> (by SET or set_config), whatever the value.</summary>
    public bool Sets(string parameter)
    {
        foreach (var r in _state)
        {
            if (r.Effect is SessionEffect.Set or SessionEffect.SetConfig && r.Key == parameter)
                return true;
        }
        return false;
    }

    /// <summary>Forgets the state that travels (it could not be re-created on a new primary session); what lives in the primary session stays.</summary>
    public void ForgetTravelling()
    {
        _state.Clear();
        _prepared.Clear();
        _changes.Clear();
        _inTransaction = null;
        Version++;
    }

    private static bool IsIdentityReset(string sql)
    {
        var text = sql.AsSpan().TrimStart();
        return text.StartsWith("reset", StringComparison.OrdinalIgnoreCase)
            || text.EndsWith(" none", StringComparison.OrdinalIgnoreCase)
            || text.EndsWith(" default", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>One change: at <paramref name="Version"/>, <paramref name="Sql"/> did <paramref name="Effect"/> to <paramref name="Key"/>.</summary>
    private readonly record struct Replay(long Version, SessionEffect Effect, string Key, string Sql, bool Standby);
}
