using System.Collections.Frozen;

namespace RoutingDataSource.Classification;

/// <summary>The first keyword of a statement, which chooses the rule that classifies it.</summary>
internal enum LeadingKeyword : byte
{
    Select,
    With,
    Values,
    Table,
    Insert,
    Update,
    Delete,
    Merge,
    Show,
    Explain,
    Copy,
    Declare,
    Prepare,
    Execute,
    Call,
    Set,
    Create,
    Begin,
    Start,
    Commit,
    End,
    Rollback,
    Abort,
    Savepoint,
    Release,
    Fetch,
    Move,
    Close,
    Reset,
    Discard,
    Listen,
    Unlisten,
    Load,
    Deallocate,
    Notify,
    Do,
    Lock,

    /// <summary>DDL and maintenance: always a write.</summary>
    Ddl,
}
