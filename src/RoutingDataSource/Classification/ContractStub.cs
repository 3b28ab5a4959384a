// TEMPORARY: replaced by the classifier branch at merge. Delete this file then.
namespace RoutingDataSource.Classification;

/// <summary>Stub.</summary>
public enum StatementKind {
    /// <summary>Stub.</summary>
    Read,
    /// <summary>Stub.</summary>
    Write,
    /// <summary>Stub.</summary>
    SessionState,
    /// <summary>Stub.</summary>
    TransactionControl }
/// <summary>Stub.</summary>
public enum RouteHint {
    /// <summary>Stub.</summary>
    None,
    /// <summary>Stub.</summary>
    Primary,
    /// <summary>Stub.</summary>
    Standby }
/// <summary>Stub.</summary>
public enum TransactionControlKind {
    /// <summary>Stub.</summary>
    None,
    /// <summary>Stub.</summary>
    Begin,
    /// <summary>Stub.</summary>
    Commit,
    /// <summary>Stub.</summary>
    Rollback,
    /// <summary>Stub.</summary>
    Savepoint,
    /// <summary>Stub.</summary>
    ReleaseSavepoint,
    /// <summary>Stub.</summary>
    RollbackToSavepoint,
    /// <summary>Stub.</summary>
    SetTransaction }

/// <summary>Stub.</summary>
public sealed class SqlClassification
{
    /// <summary>Stub.</summary>
    public StatementKind Kind { get; init; }
    /// <summary>Stub.</summary>
    public IReadOnlyList<string> Functions { get; init; } = [];
    /// <summary>Stub.</summary>
    public bool IsReadOnlyTransactionStart { get; init; }
    /// <summary>Stub.</summary>
    public RouteHint Hint { get; init; }
    /// <summary>Stub.</summary>
    public TransactionControlKind TransactionControl { get; init; }
    /// <summary>Stub.</summary>
    public string? PreparedStatementName { get; init; }
    /// <summary>Stub.</summary>
    public StatementKind? PreparedStatementKind { get; init; }
    /// <summary>Stub.</summary>
    public string? ExecutedStatementName { get; init; }
    /// <summary>Stub.</summary>
    public int StatementCount { get; init; } = 1;
    /// <summary>Stub.</summary>
    public string? Reason { get; init; }
}

/// <summary>Stub.</summary>
public sealed class SqlClassifier
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SqlClassification> _cache = new();
    /// <summary>Stub.</summary>
    public SqlClassifier(int cacheCapacity = 4096) { _ = cacheCapacity; }
    /// <summary>Stub.</summary>
    public static SqlClassifier Default { get; } = new();
    /// <summary>Stub.</summary>
    public SqlClassification Classify(string sql) => _cache.GetOrAdd(sql, static s =>
    {
        var t = s.TrimStart().ToUpperInvariant();
        var hint = s.Contains("route: standby", StringComparison.OrdinalIgnoreCase) ? RouteHint.Standby
            : s.Contains("route: primary", StringComparison.OrdinalIgnoreCase) ? RouteHint.Primary : RouteHint.None;
        if (t.StartsWith("BEGIN", StringComparison.Ordinal) || t.StartsWith("START TRANSACTION", StringComparison.Ordinal))
            return new SqlClassification { Kind = StatementKind.TransactionControl, TransactionControl = TransactionControlKind.Begin, IsReadOnlyTransactionStart = t.Contains("READ ONLY", StringComparison.Ordinal) };
        if (t.StartsWith("SET TRANSACTION", StringComparison.Ordinal))
            return new SqlClassification { Kind = StatementKind.TransactionControl, TransactionControl = TransactionControlKind.SetTransaction, IsReadOnlyTransactionStart = t.Contains("READ ONLY", StringComparison.Ordinal) };
        if (t.StartsWith("COMMIT", StringComparison.Ordinal) || t.StartsWith("END", StringComparison.Ordinal))
            return new SqlClassification { Kind = StatementKind.TransactionControl, TransactionControl = TransactionControlKind.Commit };
        if (t.StartsWith("ROLLBACK", StringComparison.Ordinal))
            return new SqlClassification { Kind = StatementKind.TransactionControl, TransactionControl = TransactionControlKind.Rollback };
        if (t.StartsWith("SET LOCAL", StringComparison.Ordinal)) return new SqlClassification { Kind = StatementKind.Read };
        if (t.StartsWith("SET ", StringComparison.Ordinal) || t.StartsWith("LISTEN", StringComparison.Ordinal) || t.StartsWith("CREATE TEMP", StringComparison.Ordinal) || t.Contains("PG_ADVISORY_LOCK(", StringComparison.Ordinal) || t.Contains("CURRVAL(", StringComparison.Ordinal))
            return new SqlClassification { Kind = StatementKind.SessionState, Hint = hint };
        if ((t.StartsWith("SELECT", StringComparison.Ordinal) || t.StartsWith("SHOW", StringComparison.Ordinal)) && !t.Contains("FOR UPDATE", StringComparison.Ordinal) && !t.Contains("NEXTVAL", StringComparison.Ordinal))
        {
            var fns = new List<string>();
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(s.ToLowerInvariant(), @"([a-z_][a-z0-9_\.]*)\s*\("))
                if (m.Groups[1].Value is not ("count" or "from" or "in" or "values" or "exists" or "select" or "coalesce")) fns.Add(m.Groups[1].Value);
            return new SqlClassification { Kind = StatementKind.Read, Functions = fns, Hint = hint };
        }
        return new SqlClassification { Kind = StatementKind.Write, Hint = hint };
    });
}
