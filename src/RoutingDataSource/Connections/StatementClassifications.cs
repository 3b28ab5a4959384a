using RoutingDataSource.Classification;

namespace RoutingDataSource.Connections;

/// <summary>Classifications for commands whose text is not SQL to classify.</summary>
internal static class StatementClassifications
{
    /// <summary>CommandType.StoredProcedure: a procedure or function may write.</summary>
    public static readonly SqlClassification Procedure = SqlClassifier.Default.Classify("CALL p()");

    /// <summary>A batch that contains transaction control: runs on the primary and pins the session.</summary>
    public static readonly SqlClassification BatchTransactionControl = SqlClassifier.Default.Classify("BEGIN; COMMIT");

    /// <summary>A batch that leaves session state: its statements are not tracked one by one, so it pins the session.</summary>
    public static readonly SqlClassification BatchSessionState = SqlClassifier.Default.Classify("SET a.b = 1; SET a.c = 2");

    /// <summary>A lone COMMIT (what an API commit means for the session's memory).</summary>
    public static readonly SqlClassification Commit = SqlClassifier.Default.Classify("COMMIT");

    /// <summary>CommandType.TableDirect: SELECT * FROM table.</summary>
    public static readonly SqlClassification TableRead = SqlClassifier.Default.Classify("SELECT * FROM t");
}
