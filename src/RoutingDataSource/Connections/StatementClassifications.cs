using RoutingDataSource.Classification;

namespace RoutingDataSource.Connections;

/// <summary>Classifications for commands whose text is not SQL to classify.</summary>
internal static class StatementClassifications
{
    /// <summary>CommandType.StoredProcedure: a procedure or function may write.</summary>
    public static readonly SqlClassification Procedure = SqlClassifier.Default.Classify("CALL p()");

    /// <summary>A batch that contains transaction control: runs on the primary and pins the session.</summary>
    public static readonly SqlClassification BatchTransactionControl = SqlClassifier.Default.Classify("BEGIN; COMMIT");

    /// <summary>CommandType.TableDirect: SELECT * FROM table.</summary>
    public static readonly SqlClassification TableRead = SqlClassifier.Default.Classify("SELECT * FROM t");
}
