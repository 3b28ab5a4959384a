using System.Collections.ObjectModel;
using System.Text;
using RoutingDataSource.Classification;

namespace RoutingDataSource;

/// <summary>
/// The verdict of <see cref="SqlClassifier"/> on one command text: where it may run and what the
/// router needs to know about it. Immutable: one instance is shared by every lookup of the same text.
/// </summary>
public sealed class SqlClassification
{
    internal SqlClassification(
        StatementKind kind,
        IReadOnlyList<string> functions,
        bool isReadOnlyTransactionStart,
        RouteHint hint,
        TransactionControlKind transactionControl,
        bool chainsTransaction,
        string? preparedStatementName,
        StatementKind? preparedStatementKind,
        string? executedStatementName,
        int statementCount,
        string? reason,
        SessionFacts session = default,
        string? text = null,
        bool endsTransaction = false,
        bool isPlainDml = false)
    {
        EndsTransaction = endsTransaction;
        IsPlainDml = isPlainDml;
        Session = session;
        LeavesSessionState = session.Effect != SessionEffect.None || session.CreatedName is not null;
        _text = text;
        Kind = kind;
        Functions = functions;
        IsReadOnlyTransactionStart = isReadOnlyTransactionStart;
        Hint = hint;
        TransactionControl = transactionControl;
        ChainsTransaction = chainsTransaction;
        PreparedStatementName = preparedStatementName;
        PreparedStatementKind = preparedStatementKind;
        ExecutedStatementName = executedStatementName;
        StatementCount = statementCount;
        Reason = reason;
    }

    /// <summary>
    /// Where the text may run. For a text of several statements, the strongest kind
    /// (see <see cref="StatementKind"/> for the order). Built-in functions known to write or to
    /// change session state are already taken into account; other functions are listed in
    /// <see cref="Functions"/> for the router to resolve.
    /// </summary>
    public StatementKind Kind { get; }

    /// <summary>
    /// The distinct functions the text calls (executes), in order of first appearance, in PostgreSQL's
    /// canonical spelling: unquoted names folded to lower case, a quoted name kept in double quotes
    /// unless it is already a plain lower-case identifier, and the schema kept when written
    /// (<c>public.f</c>, <c>pg_catalog.now</c>). Empty when there are none.
    /// </summary>
    /// <remarks>
    /// <c>EXPLAIN</c> without <c>ANALYZE</c> executes nothing, so it lists no functions.
    /// <c>PREPARE</c> lists the functions of the prepared body, so the router can resolve them before
    /// it remembers <see cref="PreparedStatementKind"/>. SQL syntax that looks like a call but is not a
    /// function (<c>COALESCE</c>, <c>CAST</c>, <c>EXTRACT</c>, type modifiers such as <c>numeric(10,2)</c>,
    /// table aliases with column lists, function-style casts to built-in types that have no function of
    /// that name such as <c>tsquery('a &amp; b')</c>) is not listed. A function called without
    /// parentheses (PostgreSQL's attribute notation, <c>t.f</c> for <c>f(t)</c>) cannot be seen in the text.
    /// </remarks>
    public IReadOnlyList<string> Functions { get; }

    /// <summary>
    /// True when the text starts a read-only transaction (<c>BEGIN READ ONLY</c>,
    /// <c>START TRANSACTION ... READ ONLY</c>, <c>SET TRANSACTION READ ONLY</c>) and nothing in it needs
    /// the primary (so <see cref="Kind"/> is <see cref="StatementKind.TransactionControl"/>).
    /// </summary>
    public bool IsReadOnlyTransactionStart { get; }

    /// <summary>The hint written in a leading comment (<c>/* route: primary */</c>, <c>-- route: standby</c>).
    /// When both appear, <see cref="RouteHint.Primary"/> wins.</summary>
    public RouteHint Hint { get; }

    /// <summary>
    /// What the first transaction-control statement of the text does, whatever <see cref="Kind"/> is
    /// (a text <c>BEGIN; INSERT ...</c> is a <see cref="StatementKind.Write"/> that also begins a transaction).
    /// <see cref="TransactionControlKind.None"/> when the text holds none.
    /// </summary>
    public TransactionControlKind TransactionControl { get; }

    /// <summary>
    /// True when that first transaction-control statement is <c>COMMIT AND CHAIN</c> or
    /// <c>ROLLBACK AND CHAIN</c>: a new transaction with the same characteristics starts at once, on the
    /// same server, so the transaction does not end there.
    /// </summary>
    public bool ChainsTransaction { get; }

    /// <summary>
    /// The text holds a <c>PREPARE TRANSACTION</c>: the session's transaction ends with it, whether it succeeds (the
    /// transaction is prepared, no longer the session's) or fails (PostgreSQL rolls it back).
    /// </summary>
    internal bool EndsTransaction { get; }

    /// <summary>
    /// Every statement of the text is a query or DML (SELECT, WITH, VALUES, TABLE, INSERT, UPDATE, DELETE, MERGE), so it may
    /// run after another statement in one implicit transaction. What PostgreSQL refuses there (VACUUM,
    /// <c>CREATE INDEX CONCURRENTLY</c>, <c>CREATE DATABASE</c>, <c>ALTER SYSTEM</c>...: 25001 "cannot be executed within a
    /// pipeline") is never one.
    /// </summary>
    internal bool IsPlainDml { get; }

    /// <summary>The name of the statement prepared by <c>PREPARE name AS ...</c>, in canonical spelling; otherwise null.</summary>
    public string? PreparedStatementName { get; }

    /// <summary>
    /// The kind of the body of <c>PREPARE name AS body</c> (what <c>EXECUTE name</c> will do), before its
    /// <see cref="Functions"/> are resolved; null when the text prepares nothing.
    /// </summary>
    public StatementKind? PreparedStatementKind { get; }

    /// <summary>
    /// The name of the prepared statement run by <c>EXECUTE name</c>, in canonical spelling; otherwise null.
    /// The classifier cannot know what it runs and classifies it as a
    /// <see cref="StatementKind.Write"/>: the router, which remembers the session's
    /// <see cref="PreparedStatementKind"/>, can do better.
    /// </summary>
    public string? ExecutedStatementName { get; }

    /// <summary>The number of non-empty statements in the text.</summary>
    public int StatementCount { get; }

    /// <summary>A short human explanation of the verdict, such as <c>SELECT ... FOR UPDATE</c>.</summary>
    public string? Reason { get; }

    /// <summary>What the text leaves in the session, and the object a <c>CREATE</c> in it makes.</summary>
    internal SessionFacts Session { get; }

    /// <summary>Whether <see cref="Session"/> says anything (one field read on the hot path instead of a copy of it).</summary>
    internal bool LeavesSessionState { get; }

    private readonly string? _text;

    /// <summary>The classified text (the statement replayed where its session state must travel).</summary>
    internal string? Text => _text;
    private string[]? _relations;

    /// <summary>
    /// The names the text mentions that may be relations (see <see cref="RelationNames"/>), worked out on first use:
    /// only sessions with temporary tables and data sources that know unlogged tables ever ask.
    /// </summary>
    internal string[] Relations => _relations ??= _text is null ? [] : RelationNames.Mentioned(_text);

    /// <summary>A one-line description, for logs and debugging.</summary>
    /// <returns>The kind, the reason and the functions.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Kind);
        if (TransactionControl != TransactionControlKind.None)
        {
            text.Append(" (").Append(TransactionControl)
                .Append(ChainsTransaction ? " and chain" : string.Empty)
                .Append(IsReadOnlyTransactionStart ? ", read only)" : ")");
        }

        if (Reason is not null)
        {
            text.Append(": ").Append(Reason);
        }

        if (Functions.Count > 0)
        {
            text.Append(" [functions: ").AppendJoin(", ", Functions).Append(']');
        }

        if (Hint != RouteHint.None)
        {
            text.Append(" [hint: ").Append(Hint).Append(']');
        }

        return text.ToString();
    }

    /// <summary>Wraps the analyzer's list, which nothing else holds or changes afterwards.</summary>
    internal static IReadOnlyList<string> FreezeFunctions(List<string>? functions) =>
        functions is null || functions.Count == 0 ? Array.Empty<string>() : new ReadOnlyCollection<string>(functions);
}
