using System.Data;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// The README's routing-rules table, row by row, against the pure session router (no server): each row is a script of
/// statements on one logical connection and the server each one runs on, the session's memory (SessionMemory) carried along as RoutingConnection carries it. The cluster is n0 (primary, weight 0),
/// n1 (weight 1) and n2 (weight 3); "-" means nothing is sent (a deferred BEGIN, an API call).
/// </summary>
public sealed class SessionRouterTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Backend[] _backends;
    private readonly ClusterSnapshot _snapshot;
    private readonly Router _router = new(new FunctionVolatilityCache([], ["app_writer"], NullLogger.Instance, TimeProvider.System),
        new UnloggedRelationCache(NullLogger.Instance, TimeProvider.System));
    private readonly WeightedRoundRobinBalancer _balancer = new();

    public SessionRouterTests()
    {
        int[] weights = [0, 1, 3];
        _backends = [.. weights.Select((w, i) => new Backend(i, "n" + i, "127.0.0.1", 1000 + i, w,
            NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"), NpgsqlDataSource.Create("Host=127.0.0.1;Port=1")))];
        BackendObservation Node(bool standby) => new() { Reachable = true, InRecovery = standby, CurrentLsn = 100, ReplayLsn = 100, Timeline = 1, At = T0 };
        _snapshot = SnapshotBuilder.Build(ClusterSnapshot.Initial(_backends), [Node(false), Node(true), Node(true)], [false, false, false], new RoutingOptions(), T0);
    }

    public static TheoryData<string, string[], string, string> Rules => new()
    {
        // | SELECT, VALUES, TABLE, WITH of reads only, SHOW, EXPLAIN, COPY ... TO | a standby, taken in turn by weight |
        { "Read goes to a standby, in turn by weight (1 and 3: one read in four on the first)", ["SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1"], "n2 n2 n2 n1", "None" },
        { "Read goes to a standby: VALUES", ["VALUES (1)"], "n2", "None" },
        { "Read goes to a standby: TABLE", ["TABLE items"], "n2", "None" },
        { "Read goes to a standby: WITH of reads only", ["WITH a AS (SELECT 1) SELECT * FROM a"], "n2", "None" },
        { "Read goes to a standby: SHOW", ["SHOW work_mem"], "n2", "None" },
        { "Read goes to a standby: EXPLAIN", ["EXPLAIN SELECT 1"], "n2", "None" },
        { "Read goes to a standby: COPY TO", ["COPY items TO STDOUT"], "n2", "None" },

        // | the same, calling a function that may write | the primary |
        { "Read calling a function that may write goes to the primary: nextval", ["SELECT nextval('s')"], "n0", "None" },
        { "Read calling a function that may write goes to the primary: listed in WriteFunctions", ["SELECT app_writer()"], "n0", "None" },
        { "Read calling a function that may write goes to the primary: volatility not known yet", ["SELECT not_looked_up_yet()"], "n0", "None" },

        // | INSERT/UPDATE/DELETE/MERGE, DDL, COPY ... FROM, CALL, DO, LOCK, VACUUM, FOR UPDATE, SELECT INTO, anything not understood | the primary |
        { "Write goes to the primary: INSERT", ["INSERT INTO items(v) VALUES ('x')"], "n0", "None" },
        { "Write goes to the primary: UPDATE", ["UPDATE items SET v = 'y'"], "n0", "None" },
        { "Write goes to the primary: DELETE", ["DELETE FROM items"], "n0", "None" },
        { "Write goes to the primary: MERGE", ["MERGE INTO items t USING src s ON t.id = s.id WHEN MATCHED THEN DELETE"], "n0", "None" },
        { "Write goes to the primary: DDL", ["CREATE TABLE t (id int)"], "n0", "None" },
        { "Write goes to the primary: COPY FROM", ["COPY items FROM STDIN"], "n0", "None" },
        { "Write goes to the primary: CALL", ["CALL p()"], "n0", "None" },
        { "Write goes to the primary: DO", ["DO $$ BEGIN END $$"], "n0", "None" },
        { "Write goes to the primary: LOCK", ["LOCK TABLE items"], "n0", "None" },
        { "Write goes to the primary: VACUUM", ["VACUUM items"], "n0", "None" },
        { "Write goes to the primary: SELECT FOR UPDATE", ["SELECT * FROM items FOR UPDATE"], "n0", "None" },
        { "Write goes to the primary: SELECT INTO", ["SELECT * INTO copy FROM items"], "n0", "None" },
        { "Write goes to the primary: anything not understood", ["FROBNICATE the table"], "n0", "None" },

        // | SET, RESET, SET ROLE, SET SESSION AUTHORIZATION: a standby session while the connection holds no primary session, else the primary's; set_config(..., false), PREPARE, DEALLOCATE, DISCARD: the primary (its session keeps it); the state travels: reads still go to a standby, which gets it first |
        { "Session state travels with the reads: SET", ["SET work_mem = '8MB'", "SELECT 1"], "n2 n2", "None" },
        { "Session state travels with the reads: SET search_path", ["SET search_path TO app, public", "SELECT * FROM items"], "n2 n2", "None" },
        { "Session state travels with the reads: SET of a custom parameter", ["SET app.tenant_id = '42'", "SELECT * FROM items"], "n2 n2", "None" },
        { "Session state travels with the reads: RESET", ["RESET work_mem", "SELECT 1"], "n2 n2", "None" },
        { "Session state travels with the reads: RESET ALL", ["SET work_mem = '8MB'", "RESET ALL", "SELECT 1"], "n2 n2 n2", "None" },
        { "Session state travels with the reads: SET ROLE", ["SET ROLE reader", "SELECT 1", "RESET ROLE", "SELECT 1"], "n2 n2 n2 n1", "None" },
        { "Session state travels with the reads: SET SESSION AUTHORIZATION", ["SET SESSION AUTHORIZATION reader", "SELECT 1"], "n2 n2", "None" },
        { "Session state travels with the reads: set_config(..., false)", ["SELECT set_config('app.user', 'u', false)", "SELECT 1"], "n0 n2", "None" },
        { "Session state travels with the reads: PREPARE", ["PREPARE q AS SELECT 1", "SELECT 1"], "n0 n2", "None" },
        { "Session state travels with the reads: DEALLOCATE", ["PREPARE q AS SELECT 1", "DEALLOCATE q", "SELECT 1"], "n0 n0 n2", "None" },
        { "Session state travels with the reads: DISCARD ALL", ["SET work_mem = '8MB'", "DISCARD ALL", "SELECT 1"], "n2 n0 n2", "None" },
        { "Session state is set on the primary session once the connection holds one: after a write", ["INSERT INTO items(v) VALUES ('x')", "SET work_mem = '8MB'", "SELECT 1"], "n0 n0 n2", "None" },
        { "Session state is set on the primary session once the connection holds one: after set_config", ["SELECT set_config('app.user', 'u', false)", "SET ROLE reader", "SELECT 1"], "n0 n0 n2", "None" },
        { "Session state travels with the reads: SET LOCAL is not session state", ["SET LOCAL work_mem = '8MB'", "SELECT 1"], "n2 n2", "None" },
        { "Session state set by the first statement of a transaction travels after its COMMIT", ["BEGIN", "SET work_mem = '8MB'", "COMMIT", "SELECT 1"], "- n0 n0 n2", "None" },
        { "Session state set by the first statement of a transaction travels after its COMMIT: BeginTransaction()", ["api:begin", "SET work_mem = '8MB'", "api:commit", "SELECT 1"], "- n0 - n2", "None" },
        { "Session state set by the first statement of a read-only transaction travels after its COMMIT", ["BEGIN READ ONLY", "SET work_mem = '8MB'", "COMMIT", "SELECT 1"], "- n2 n2 n2", "None" },
        { "Session state set inside a read-only transaction travels after its COMMIT", ["BEGIN READ ONLY", "SELECT 1", "SET work_mem = '8MB'", "COMMIT", "INSERT INTO items(v) VALUES ('x')"], "- n2 n2 n2 n0", "None" },
        { "Session state set inside a transaction travels after its COMMIT", ["BEGIN", "INSERT INTO items(v) VALUES ('x')", "SET work_mem = '8MB'", "COMMIT", "SELECT 1"], "- n0 n0 n0 n2", "None" },
        { "Session state set inside a transaction rolled back over by a savepoint pins at COMMIT", ["BEGIN", "SET work_mem = '8MB'", "SAVEPOINT s", "ROLLBACK TO SAVEPOINT s", "COMMIT", "SELECT 1"], "- n0 n0 n0 n0 n0", "Session" },

        // | CREATE TEMP ..., SELECT ... INTO TEMP, pg_advisory_lock, DECLARE ... WITH HOLD, LISTEN, currval/lastval | the primary session; only the statements that need it go there |
        { "A temporary table read stays on the primary while a permanent one moves", ["CREATE TEMP TABLE tt (id int)", "SELECT * FROM tt", "SELECT * FROM items"], "n0 n0 n2", "None" },
        { "A temporary table read stays on the primary: qualified with pg_temp", ["CREATE TEMP TABLE tt (id int)", "SELECT * FROM pg_temp.tt"], "n0 n0", "None" },
        { "A temporary table read stays on the primary: made in pg_temp", ["CREATE TABLE pg_temp.tt (id int)", "SELECT count(*) FROM tt", "SELECT 1"], "n0 n0 n2", "None" },
        { "A temporary table read stays on the primary: SELECT INTO TEMP", ["SELECT 1 AS id INTO TEMP tt", "TABLE tt", "SELECT 1"], "n0 n0 n2", "None" },
        { "A temporary table read stays on the primary: EXPLAIN of it", ["CREATE TEMP TABLE tt (id int)", "EXPLAIN SELECT * FROM tt"], "n0 n0", "None" },
        { "A temporary table read stays on the primary: a view over it is temporary too", ["CREATE TEMP TABLE tt (id int)", "CREATE VIEW v AS SELECT * FROM tt", "SELECT * FROM v"], "n0 n0 n0", "None" },
        { "A temporary table read stays on the primary until DISCARD TEMP", ["CREATE TEMP TABLE tt (id int)", "DISCARD TEMP", "SELECT * FROM tt"], "n0 n0 n2", "None" },
        { "A temporary sequence named in a string stays on the primary", ["CREATE TEMP SEQUENCE ts", "EXPLAIN SELECT nextval('ts')", "SELECT 'tt'::regclass"], "n0 n0 n2", "None" },
        { "A temporary table read stays on the primary: renamed by ALTER TABLE ... RENAME TO", ["CREATE TEMP TABLE tt (id int)", "ALTER TABLE tt RENAME TO tt2", "SELECT * FROM tt2"], "n0 n0 n0", "None" },
        { "A temporary table read stays on the primary: a named index of it is temporary too", ["CREATE TEMP TABLE tt (id int)", "CREATE INDEX tti ON tt (id)", "SELECT 'tti'::regclass"], "n0 n0 n0", "None" },
        { "A read naming anything in pg_temp stays on the primary", ["CREATE TEMP TABLE tt (id int)", "EXPLAIN SELECT * FROM pg_temp.f()", "SELECT 1"], "n0 n0 n2", "None" },
        { "A read-only transaction of a session holding temporary objects stays on the primary", ["CREATE TEMP SEQUENCE ts", "BEGIN READ ONLY", "SELECT nextval('ts')", "COMMIT", "BEGIN READ ONLY", "SELECT 1", "COMMIT"], "n0 - n0 n0 - n0 n0", "None" },
        { "A read-only transaction whose first statement a standby cannot run is bound to the primary", ["BEGIN READ ONLY", "SELECT nextval('s')", "SELECT 1", "COMMIT", "SELECT 1"], "- n0 n0 n0 n2", "None" },
        { "A read-only transaction goes to a standby again after DISCARD TEMP", ["CREATE TEMP SEQUENCE ts", "DISCARD TEMP", "BEGIN READ ONLY", "SELECT 1", "COMMIT"], "n0 n0 - n2 n2", "None" },
        { "currval reads the primary session, other reads move", ["SELECT nextval('s')", "SELECT currval('s')", "SELECT 1"], "n0 n0 n2", "None" },
        { "lastval reads the primary session", ["SELECT lastval()", "SELECT 1"], "n0 n2", "None" },
        { "An advisory lock is held by the primary session; its unlock goes there", ["SELECT pg_advisory_lock(1)", "SELECT 1", "SELECT pg_advisory_unlock(1)"], "n0 n2 n0", "None" },
        { "A held cursor lives in the primary session: FETCH and CLOSE go there", ["DECLARE c CURSOR WITH HOLD FOR SELECT 1", "SELECT 1", "FETCH c", "CLOSE c"], "n0 n2 n0 n0", "None" },
        { "LISTEN lives in the primary session; reads move", ["LISTEN events", "SELECT 1", "UNLISTEN events"], "n0 n2 n0", "None" },
        { "EXECUTE of a prepared read runs on a standby", ["PREPARE q AS SELECT * FROM items", "EXECUTE q"], "n0 n2", "None" },
        { "EXECUTE of a prepared write runs on the primary", ["PREPARE w AS INSERT INTO items(v) VALUES ('x')", "EXECUTE w"], "n0 n0", "None" },
        { "EXPLAIN EXECUTE is routed as the EXECUTE it plans", ["PREPARE q AS SELECT * FROM items", "EXPLAIN EXECUTE q", "PREPARE w AS INSERT INTO items(v) VALUES ('x')", "EXPLAIN (COSTS OFF) EXECUTE w"], "n0 n2 n0 n0", "None" },
        { "EXECUTE of a prepared read of a temporary table runs on the primary", ["CREATE TEMP TABLE tt (id int)", "PREPARE q AS SELECT * FROM tt", "EXECUTE q"], "n0 n0 n0", "None" },
        { "EXECUTE of a prepared read calling a volatile function runs on the primary", ["PREPARE q AS SELECT app_writer()", "EXECUTE q"], "n0 n0", "None" },
        { "EXECUTE of a deallocated statement runs on the primary", ["PREPARE q AS SELECT 1", "DEALLOCATE q", "EXECUTE q"], "n0 n0 n0", "None" },
        { "EXECUTE of a statement the session did not prepare runs on the primary", ["EXECUTE elsewhere"], "n0", "None" },

        // | session state the router does not model: several statements, LOAD, setseed, set_config of a parameter, transaction defaults | the primary, pinned until close |
        { "Unmodelled session state pins the connection: SET among other statements", ["SET work_mem = '8MB'; SELECT 1", "SELECT 1"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: LOAD", ["LOAD 'auto_explain'", "SELECT 1"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: setseed", ["SELECT setseed(0.5)", "SELECT random()"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: set_config of a parameter", ["SELECT set_config('app.user', $1, false)", "SELECT 1"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: SET SESSION CHARACTERISTICS", ["SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SELECT 1"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: default_transaction_isolation", ["SET default_transaction_isolation = 'serializable'", "SELECT 1"], "n0 n0", "Session" },
        { "Unmodelled session state pins the connection: a write that also takes an advisory lock", ["INSERT INTO items(v) SELECT pg_advisory_lock(1)::text", "SELECT 1"], "n0 n0", "Session" },

        // | BEGIN ... COMMIT (or BeginTransaction()) | the primary, one server for the whole transaction |
        { "A transaction runs on the primary, one server for all of it", ["BEGIN", "SELECT 1", "INSERT INTO items(v) VALUES ('x')", "SELECT 1", "COMMIT", "SELECT 1"], "- n0 n0 n0 n0 n2", "None" },
        { "A transaction runs on the primary, one server for all of it: BeginTransaction()", ["api:begin", "SELECT 1", "SELECT 1", "api:end", "SELECT 1"], "- n0 n0 - n2", "None" },
        { "A transaction runs on the primary, one server for all of it: ROLLBACK ends it", ["START TRANSACTION", "SELECT 1", "ROLLBACK", "SELECT 1"], "- n0 n0 n2", "None" },
        { "A transaction runs on the primary, one server for all of it: COMMIT AND CHAIN keeps it there", ["BEGIN", "SELECT 1", "COMMIT AND CHAIN", "SELECT 1", "COMMIT", "SELECT 1"], "- n0 n0 n0 n0 n2", "None" },
        { "A transaction runs on the primary, one server for all of it: an empty one sends nothing", ["BEGIN", "COMMIT", "SELECT 1"], "- - n2", "None" },

        // | BEGIN READ ONLY, BEGIN; SET TRANSACTION READ ONLY, BeginReadOnlyTransactionAsync() | one standby for the whole transaction |
        { "A read-only transaction runs on one standby: BEGIN READ ONLY", ["BEGIN READ ONLY", "SELECT 1", "SELECT 1", "SELECT 1", "SELECT 1", "COMMIT", "SELECT 1"], "- n2 n2 n2 n2 n2 n2", "None" },
        { "A read-only transaction runs on one standby: BEGIN; SET TRANSACTION READ ONLY", ["BEGIN", "SET TRANSACTION READ ONLY", "SELECT 1", "COMMIT"], "- n2 n2 n2", "None" },
        { "A read-only transaction runs on one standby: BeginReadOnlyTransactionAsync()", ["api:begin-read-only", "SELECT 1", "SELECT 1"], "- n2 n2", "Transaction" },

        // | /* route: primary */ SELECT ... | the primary |
        { "Hint route: primary sends a read to the primary", ["/* route: primary */ SELECT 1"], "n0", "None" },

        // | /* route: standby */ SELECT my_func() | a standby (vouches for functions; never turns a write into a read) |
        { "Hint route: standby vouches for functions", ["/* route: standby */ SELECT not_looked_up_yet()"], "n2", "None" },
        { "Hint route: standby never turns a write into a read", ["/* route: standby */ INSERT INTO items(v) VALUES ('x')"], "n0", "None" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Routing_rule(string rule, string[] script, string servers, string pinnedAfter)
    {
        var (ran, state) = Run(script);
        Assert.True(servers == ran, $"{rule}: expected {servers}, ran on {ran}");
        Assert.Equal(Enum.Parse<PinReason>(pinnedAfter), state.Pin);
    }

    [Fact]
    public void A_nested_transaction_is_refused()
    {
        var state = SessionRouter.BeginApiTransaction(SessionState.Initial, IsolationLevel.Unspecified, readOnly: false)!.Value;
        Assert.Null(SessionRouter.BeginApiTransaction(state, IsolationLevel.Unspecified, readOnly: false));
    }

    [Fact]
    public void A_read_only_transaction_bound_to_the_primary_is_made_read_only_there()
    {
        var pending = SessionRouter.BeginApiTransaction(SessionState.Initial, IsolationLevel.Unspecified, readOnly: true)!.Value;
        var decision = SessionRouter.Decide(Facts("SELECT 1"), pending);
        Assert.Equal(RoutingTarget.Standby, decision.Target);
        Assert.Equal(TransactionBind.Api, decision.Bind);
        Assert.True(decision.ReadOnlyOnPrimary);

        // A deferred BEGIN READ ONLY is sent as written; a first statement that says READ ONLY itself needs no second one.
        var sql = SessionRouter.Decide(Facts("BEGIN READ ONLY"), SessionState.Initial).Next;
        Assert.Equal("BEGIN READ ONLY", sql.PendingBegin);
        Assert.Equal(TransactionBind.Sql, SessionRouter.Decide(Facts("SELECT 1"), sql).Bind);
        Assert.True(SessionRouter.Decide(Facts("SELECT 1"), sql).ReadOnlyOnPrimary);
        Assert.False(SessionRouter.Decide(Facts("SET TRANSACTION READ ONLY"), sql).ReadOnlyOnPrimary);
    }

    [Fact]
    public void A_lone_BEGIN_READ_ONLY_run_as_a_reader_binds_a_standby_at_once()
    {
        // Not deferrable (ExecuteReader): the same rule as the deferred path, one standby for the transaction.
        var decision = SessionRouter.Decide(Facts("BEGIN READ ONLY", deferrable: false), SessionState.Initial);
        Assert.Equal(SessionAction.Run, decision.Action);
        Assert.Equal(RoutingTarget.Standby, decision.Target);
        Assert.True(decision.PinAfter);
        Assert.Equal(PinReason.Transaction, decision.Next.Pin);
        Assert.Equal(TransactionPhase.Active, decision.Next.Transaction);
    }

    [Fact]
    public void Writes_count_for_read_your_writes_outside_a_transaction_at_once_and_inside_only_at_COMMIT()
    {
        Assert.True(SessionRouter.AfterStatement(Facts("INSERT INTO items(v) VALUES ('x')"), SessionState.Initial).MarkWrite);
        Assert.False(SessionRouter.AfterStatement(Facts("SELECT 1"), SessionState.Initial).MarkWrite);

        var tx = SessionRouter.Decide(Facts("BEGIN", deferrable: false), SessionState.Initial).Next;
        var wrote = SessionRouter.AfterStatement(Facts("INSERT INTO items(v) VALUES ('x')"), tx);
        Assert.False(wrote.MarkWrite);
        Assert.True(wrote.Next.TransactionWrote);
        var commit = SessionRouter.AfterStatement(Facts("COMMIT"), wrote.Next);
        Assert.True(commit.MarkWrite);
        Assert.True(commit.EndsTransaction);
        Assert.Equal(PinReason.None, commit.Next.Pin);
    }

    [Fact]
    public void PREPARE_TRANSACTION_ends_the_transaction_and_counts_no_write()
    {
        var tx = SessionRouter.Decide(Facts("BEGIN", deferrable: false), SessionState.Initial).Next;
        var wrote = SessionRouter.AfterStatement(Facts("INSERT INTO items(v) VALUES ('x')"), tx).Next;
        var prepared = SessionRouter.AfterStatement(Facts("PREPARE TRANSACTION 'px'"), wrote);
        Assert.True(prepared.EndsTransaction);
        Assert.False(prepared.MarkWrite); // COMMIT PREPARED, a write of its own outside the transaction, counts
        Assert.False(prepared.Next.InTransaction);
        Assert.Equal(PinReason.None, prepared.Next.Pin);
        Assert.True(SessionRouter.AfterStatement(Facts("COMMIT PREPARED 'px'"), prepared.Next).MarkWrite);
    }

    [Fact]
    public void Closing_forgets_the_session_but_not_what_its_reads_must_see()
    {
        var state = SessionRouter.RequireAtLeast(SessionRouter.Wrote(SessionState.Initial, 42, 4242), 7, 9) with { Pin = PinReason.Session, Transaction = TransactionPhase.Active };
        var closed = SessionRouter.Closed(state);
        Assert.Equal(SessionState.Initial with { LastWrite = 42, WriteLsn = 4242, TokenLsn = 7, TokenAt = 9 }, closed);
        Assert.Equal(PinReason.None, SessionRouter.PinnedLost(state).Pin);
        Assert.False(SessionRouter.PinnedLost(state).InTransaction);
    }

    private StatementFacts Facts(string sql, bool deferrable = true)
    {
        var c = SqlClassifier.Default.Classify(sql);
        return new StatementFacts(c, _router.Route(c), deferrable, sql);
    }

    // Plays a script as RoutingConnection does: decide, resolve the target to a server, take the next state, and
    // after the statement ran let the router see it.
    private (string Servers, SessionState State) Run(string[] script)
    {
        var state = SessionState.Initial;
        SessionMemory? memory = null;
        string? pinnedTo = null;
        var holdsPrimarySession = false;
        var ran = new List<string>();
        foreach (var step in script)
        {
            switch (step)
            {
                case "api:begin" or "api:begin-read-only":
                    state = SessionRouter.BeginApiTransaction(state, IsolationLevel.Unspecified, readOnly: step == "api:begin-read-only")!.Value;
                    ran.Add("-");
                    continue;
                case "api:commit":
                    if (SessionRouter.Remember(SqlClassifier.Default.Classify("COMMIT"), true, false, ref memory) == MemoryOutcome.PinsAtCommit)
                        state = SessionRouter.PinnedForSession(state);
                    goto case "api:end";
                case "api:end":
                    memory?.DiscardTransaction();
                    state = SessionRouter.EndTransaction(state);
                    pinnedTo = state.Pin == PinReason.None ? null : pinnedTo;
                    ran.Add("-");
                    continue;
            }
            var facts = Facts(step);
            facts = facts with
            {
                Route = SessionRouter.Refine(facts.Classification, facts.Route, memory, state, staysOnPrimary: holdsPrimarySession),
                HoldsTemporary = memory is { HasTemporary: true },
            };
            var decision = SessionRouter.Decide(facts, state);
            switch (decision.Action)
            {
                case SessionAction.Consume:
                    ran.Add("-");
                    state = decision.Next;
                    continue;
                case SessionAction.CommitPinned:
                    ran.Add(pinnedTo!);
                    if (SessionRouter.Remember(facts.Classification, true, false, ref memory) == MemoryOutcome.PinsAtCommit)
                        state = SessionRouter.PinnedForSession(state);
                    memory?.DiscardTransaction();
                    state = SessionRouter.EndTransaction(state);
                    break;
                default:
                    var server = decision.Target switch
                    {
                        RoutingTarget.Pinned => pinnedTo!,
                        RoutingTarget.Primary => _snapshot.Primary!.Backend.Name,
                        _ => (_balancer.Pick(_snapshot, 0) ?? _snapshot.Primary!).Backend.Name,
                    };
                    ran.Add(server);
                    if (decision.PinAfter)
                        pinnedTo = server;
                    // The connection keeps the primary session a write (or session state set there) ran on.
                    holdsPrimarySession |= server == _snapshot.Primary!.Backend.Name && (decision.KeepPrimarySession || decision.KeepStandbySession);
                    state = decision.Next;
                    if (SessionRouter.Remember(facts.Classification, state.InTransaction, _router.MayRunOnStandby(facts.Classification), ref memory) == MemoryOutcome.PinsAtCommit)
                        state = SessionRouter.PinnedForSession(state);
                    var outcome = SessionRouter.AfterStatement(facts, state);
                    if (outcome.EndsTransaction)
                        memory?.DiscardTransaction();
                    state = outcome.EndsTransaction ? SessionRouter.EndTransaction(state) : outcome.Next;
                    break;
            }
            if (state.Pin == PinReason.None)
                pinnedTo = null;
        }
        return (string.Join(' ', ran), state);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var b in _backends)
            await b.DisposeAsync();
    }
}
