namespace RoutingDataSource.Classification;

/// <summary>
/// What a single statement leaves in the server session, as far as routing cares (README, "Session state"). The
/// classifier sets it only on a text of one statement whose shape it knows; anything else that leaves session state
/// is <see cref="Pins"/>, and the logical connection stays on one primary session as before.
/// </summary>
internal enum SessionEffect : byte
{
    /// <summary>Leaves nothing in the session (or is not session state at all).</summary>
    None,

    /// <summary><c>SET [SESSION] name ...</c> (also <c>SET SCHEMA</c>, <c>SET NAMES</c>, <c>SET TIME ZONE</c>): replayable.</summary>
    Set,

    /// <summary><c>RESET name</c>: replayable.</summary>
    Reset,

    /// <summary><c>RESET ALL</c>: every parameter but the role and the session authorization back to its session default.</summary>
    ResetAll,

    /// <summary><c>SET ROLE ...</c>, <c>RESET ROLE</c>, <c>SET SESSION AUTHORIZATION ...</c>, <c>RESET SESSION AUTHORIZATION</c>: replayable, never compacted.</summary>
    Identity,

    /// <summary><c>SELECT set_config('name', 'value', false)</c> with literal arguments and nothing else: replayable.</summary>
    SetConfig,

    /// <summary><c>PREPARE name AS ...</c>: replayable where its body can run.</summary>
    Prepare,

    /// <summary><c>DEALLOCATE [PREPARE] name</c>.</summary>
    Deallocate,

    /// <summary><c>DEALLOCATE [PREPARE] ALL</c>.</summary>
    DeallocateAll,

    /// <summary><c>DISCARD ALL</c>: the session back to its start.</summary>
    DiscardAll,

    /// <summary><c>DISCARD TEMP</c>: the session's temporary objects dropped.</summary>
    DiscardTemp,

    /// <summary><c>DISCARD PLANS</c> / <c>DISCARD SEQUENCES</c>: nothing a router tracks (currval stays on the primary session).</summary>
    DiscardOther,

    /// <summary><c>CREATE TEMP ...</c>, <c>CREATE ... pg_temp.name</c>, <c>SELECT ... INTO TEMP name</c>: the object lives in the primary session.</summary>
    CreateTemp,

    /// <summary><c>LISTEN</c> / <c>UNLISTEN</c>: lives in the primary session.</summary>
    Listen,

    /// <summary><c>SELECT pg_advisory_lock(...)</c> and the other session-level lock functions: held by the primary session.</summary>
    AdvisoryLock,

    /// <summary>Reads state of the primary session: <c>currval</c>/<c>lastval</c>, advisory unlocks, held cursors.</summary>
    PrimarySessionRead,

    /// <summary><c>DECLARE ... WITH HOLD</c>: the cursor lives in the primary session.</summary>
    HeldCursor,

    /// <summary>Session state the router does not model (several statements, <c>LOAD</c>, <c>setseed</c>, a parameterized
    /// <c>set_config</c>, the transaction isolation defaults): the connection stays pinned to one primary session.</summary>
    Pins,
}
