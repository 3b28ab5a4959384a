using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;

namespace RoutingDataSource.Classification;

/// <summary>
/// Classifies one command text: tokenizes it, splits it into statements the way psql does, classifies
/// each from its structure, and combines the verdicts (the strongest kind wins). Pure and linear in the
/// text's length; allocates only the result (and a pooled token buffer).
/// </summary>
internal ref struct SqlAnalyzer
{
    // EXPLAIN ANALYZE EXPLAIN ANALYZE ... and PREPARE bodies recurse; nothing legitimate nests deeper.
    private const int MaxNesting = 16;

    private const string NotUnderstood = "statement not understood";

    // Unreserved keywords that are SQL syntax, not a function, when a parenthesis follows them.
    private static readonly FrozenSet<string> SyntaxBeforeParenthesis = FrozenSet.ToFrozenSet(
        [
            "conflict", "set", "insert", "update", "delete", "merge", "cube", "rollup", "sets", "over", "filter",
            "partition", "range", "rows", "groups", "materialized", "include", "options", "columns", "repeatable",
            "first", "next", "last", "operator", "varying", "key", "ordinality", "passing", "year", "month", "day",
            "hour", "minute", "second", "zone", "cycle", "search", "depth", "breadth", "by", "nulls", "within",
            "stdin", "stdout", "program", "escape", "of", "exclude", "copy", "explain", "vacuum", "cluster",
            "reindex", "prepare", "execute", "document", "content",
        ],
        StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> SyntaxBeforeParenthesisLookup =
        SyntaxBeforeParenthesis.GetAlternateLookup<ReadOnlySpan<char>>();

    // Built-in types without a function of the same name: "tsquery('a & b')" is a function-style cast,
    // which calls the type's input function, not a function named tsquery (pg_type minus pg_proc, PostgreSQL 15).
    private static readonly FrozenSet<string> FunctionStyleCasts = FrozenSet.ToFrozenSet(
        [
            "bytea", "cid", "gtsvector", "inet", "int2vector", "json", "jsonb", "jsonpath", "oidvector",
            "pg_brin_bloom_summary", "pg_brin_minmax_multi_summary", "pg_dependencies", "pg_mcv_list", "pg_ndistinct",
            "pg_node_tree", "pg_snapshot", "refcursor", "regcollation", "regconfig", "regdictionary", "regnamespace",
            "regoper", "regoperator", "regproc", "regprocedure", "regrole", "regtype", "tid", "tsquery", "tsvector",
            "txid_snapshot", "uuid", "xid8",
        ],
        StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> FunctionStyleCastLookup =
        FunctionStyleCasts.GetAlternateLookup<ReadOnlySpan<char>>();

    private readonly ReadOnlySpan<char> _sql;
    private readonly Span<SqlToken> _tokens;
    private FunctionNameSet? _functions;

    private SqlAnalyzer(ReadOnlySpan<char> sql, Span<SqlToken> tokens)
    {
        _sql = sql;
        _tokens = tokens;
    }

    /// <summary>Classifies <paramref name="sql"/>. Never throws on any input.</summary>
    public static SqlClassification Analyze(string sql)
    {
        SqlToken[] tokens = ArrayPool<SqlToken>.Shared.Rent(Math.Min(sql.Length, 4096) / 3 + 16);
        try
        {
            var lexer = new SqlLexer(sql);
            int count = 0;
            int openParen = -1;
            bool unbalanced = false;
            while (lexer.TryRead(out var token))
            {
                if (count == tokens.Length)
                {
                    Grow(ref tokens);
                }

                if (token.Kind == SqlTokenKind.LeftParen)
                {
                    // The open parentheses form a stack threaded through Partner until they are matched.
                    token.Partner = openParen;
                    openParen = count;
                }
                else if (token.Kind == SqlTokenKind.RightParen)
                {
                    if (openParen >= 0)
                    {
                        int open = openParen;
                        openParen = tokens[open].Partner;
                        tokens[open].Partner = count;
                        token.Partner = open;
                    }
                    else
                    {
                        unbalanced = true;
                    }
                }

                tokens[count++] = token;
            }

            while (openParen >= 0)
            {
                unbalanced = true;
                int next = tokens[openParen].Partner;
                tokens[openParen].Partner = -1;
                openParen = next;
            }

            var analyzer = new SqlAnalyzer(sql, tokens.AsSpan(0, count));
            return analyzer.Run(lexer.Hint, lexer.Error, unbalanced);
        }
        finally
        {
            ArrayPool<SqlToken>.Shared.Return(tokens);
        }
    }

    /// <summary>The classification of a text the analyzer failed on: a write, so it goes to the primary.</summary>
    public static SqlClassification Failed(Exception exception) =>
        new(StatementKind.Write, Array.Empty<string>(), false, RouteHint.None, TransactionControlKind.None, null, null, null, 0,
            "classifier failure: " + exception.GetType().Name);

    private static void Grow(ref SqlToken[] tokens)
    {
        SqlToken[] larger = ArrayPool<SqlToken>.Shared.Rent(tokens.Length * 2);
        tokens.AsSpan().CopyTo(larger);
        ArrayPool<SqlToken>.Shared.Return(tokens);
        tokens = larger;
    }

    private SqlClassification Run(RouteHint hint, SqlLexError lexError, bool unbalanced)
    {
        var text = new StatementVerdict(StatementKind.Read, "empty statement");
        var firstTransactionControl = TransactionControlKind.None;
        var accessMode = TransactionAccessMode.None;
        string? preparedName = null;
        StatementKind? preparedKind = null;
        string? executedName = null;
        int statementCount = 0;

        var splitter = new StatementSplitter();
        int start = 0;
        for (int i = 0; i <= _tokens.Length; i++)
        {
            if (i < _tokens.Length && !splitter.EndsStatement(_sql, _tokens[i]))
            {
                continue;
            }

            if (i > start)
            {
                var verdict = ClassifyStatement(start, i, 0);
                statementCount++;
                if (statementCount == 1)
                {
                    text.Set(verdict.Kind, verdict.Reason ?? NotUnderstood);
                }
                else
                {
                    text.Raise(verdict.Kind, verdict.Reason ?? NotUnderstood);
                }

                if (firstTransactionControl == TransactionControlKind.None)
                {
                    firstTransactionControl = verdict.TransactionControl;
                }

                if (verdict.AccessMode != TransactionAccessMode.None)
                {
                    accessMode = verdict.AccessMode;
                }

                if (preparedName is null && verdict.PreparedName is not null)
                {
                    preparedName = verdict.PreparedName;
                    preparedKind = verdict.PreparedKind;
                }

                executedName ??= verdict.ExecutedName;
            }

            start = i + 1;
            splitter = new StatementSplitter();
        }

        switch (lexError)
        {
            case SqlLexError.UnterminatedComment:
                text.Raise(StatementKind.Write, "unterminated /* comment");
                break;
            case SqlLexError.UnterminatedString:
                text.Raise(StatementKind.Write, "unterminated quoted string");
                break;
            case SqlLexError.UnterminatedQuotedIdentifier:
                text.Raise(StatementKind.Write, "unterminated quoted identifier");
                break;
            case SqlLexError.UnterminatedDollarQuote:
                text.Raise(StatementKind.Write, "unterminated dollar-quoted string");
                break;
            case SqlLexError.EmptyQuotedIdentifier:
                text.Raise(StatementKind.Write, "zero-length quoted identifier");
                break;
        }

        if (unbalanced)
        {
            text.Raise(StatementKind.Write, "unbalanced parentheses");
        }

        bool readOnlyStart = text.Kind == StatementKind.TransactionControl &&
            firstTransactionControl is TransactionControlKind.Begin or TransactionControlKind.SetTransaction &&
            accessMode == TransactionAccessMode.ReadOnly;

        return new SqlClassification(
            text.Kind,
            SqlClassification.FreezeFunctions(_functions?.Names),
            readOnlyStart,
            hint,
            firstTransactionControl,
            preparedName,
            preparedKind,
            executedName,
            statementCount,
            text.Reason);
    }

    // ---- one statement ------------------------------------------------------------------------

    private StatementVerdict ClassifyStatement(int from, int to, int nesting)
    {
        if (from >= to)
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        if (nesting > MaxNesting)
        {
            return new StatementVerdict(StatementKind.Write, "statement nested too deeply");
        }

        var first = _tokens[from];
        if (first.Kind == SqlTokenKind.LeftParen)
        {
            return ScanQuery(from, to, "SELECT");
        }

        if (first.Kind != SqlTokenKind.Word)
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        ReadOnlySpan<char> word = Text(from);
        switch (word.Length)
        {
            case 2:
                if (Eq(word, "do"))
                {
                    return new StatementVerdict(StatementKind.Write, "DO (anonymous code block)");
                }

                break;
            case 3:
                if (Eq(word, "set"))
                {
                    return ClassifySet(from, to);
                }

                if (Eq(word, "end"))
                {
                    return TransactionControl(TransactionControlKind.Commit, "END");
                }

                break;
            case 4:
                if (Eq(word, "with"))
                {
                    return ScanQuery(from, to, "WITH");
                }

                if (Eq(word, "show"))
                {
                    return new StatementVerdict(StatementKind.Read, "SHOW");
                }

                if (Eq(word, "call"))
                {
                    var call = new StatementVerdict(StatementKind.Write, "CALL");
                    ScanTokens(from, to, ref call);
                    return call;
                }

                if (Eq(word, "copy"))
                {
                    return ClassifyCopy(from, to);
                }

                if (Eq(word, "lock"))
                {
                    return new StatementVerdict(StatementKind.Write, "LOCK");
                }

                if (Eq(word, "load"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "LOAD (a library into the session)");
                }

                if (Eq(word, "move"))
                {
                    return new StatementVerdict(StatementKind.Read, "MOVE (cursor: runs where the cursor lives)");
                }

                if (Eq(word, "drop"))
                {
                    return new StatementVerdict(StatementKind.Write, "DROP");
                }

                break;
            case 5:
                if (Eq(word, "table"))
                {
                    return ScanQuery(from, to, "TABLE");
                }

                if (Eq(word, "begin"))
                {
                    return ClassifyBegin(from + 1, to);
                }

                if (Eq(word, "start"))
                {
                    return Is(from + 1, "transaction")
                        ? ClassifyBegin(from + 1, to)
                        : new StatementVerdict(StatementKind.Write, NotUnderstood);
                }

                if (Eq(word, "abort"))
                {
                    return TransactionControl(TransactionControlKind.Rollback, "ABORT");
                }

                if (Eq(word, "fetch"))
                {
                    return new StatementVerdict(StatementKind.Read, "FETCH (cursor: runs where the cursor lives)");
                }

                if (Eq(word, "close"))
                {
                    return new StatementVerdict(StatementKind.Read, "CLOSE (cursor: runs where the cursor lives)");
                }

                if (Eq(word, "reset"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "RESET");
                }

                if (Eq(word, "merge"))
                {
                    return ScanQuery(from, to, "MERGE");
                }

                if (Eq(word, "alter") || Eq(word, "grant"))
                {
                    return Ddl(word);
                }

                break;
            case 6:
                if (Eq(word, "select"))
                {
                    return ScanQuery(from, to, "SELECT");
                }

                if (Eq(word, "values"))
                {
                    return ScanQuery(from, to, "VALUES");
                }

                if (Eq(word, "insert"))
                {
                    return ScanQuery(from, to, "INSERT");
                }

                if (Eq(word, "update"))
                {
                    return ScanQuery(from, to, "UPDATE");
                }

                if (Eq(word, "delete"))
                {
                    return ScanQuery(from, to, "DELETE");
                }

                if (Eq(word, "commit"))
                {
                    return Is(from + 1, "prepared")
                        ? new StatementVerdict(StatementKind.Write, "COMMIT PREPARED (two-phase commit)")
                        : TransactionControl(TransactionControlKind.Commit, "COMMIT");
                }

                if (Eq(word, "create"))
                {
                    return ClassifyCreate(from, to);
                }

                if (Eq(word, "listen"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "LISTEN");
                }

                if (Eq(word, "notify"))
                {
                    return new StatementVerdict(StatementKind.Write, "NOTIFY");
                }

                if (Eq(word, "vacuum") || Eq(word, "revoke") || Eq(word, "import"))
                {
                    return Ddl(word);
                }

                break;
            case 7:
                if (Eq(word, "explain"))
                {
                    return ClassifyExplain(from, to, nesting);
                }

                if (Eq(word, "prepare"))
                {
                    return ClassifyPrepare(from, to, nesting);
                }

                if (Eq(word, "execute"))
                {
                    return ClassifyExecute(from, to);
                }

                if (Eq(word, "declare"))
                {
                    return ClassifyDeclare(from, to);
                }

                if (Eq(word, "discard"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "DISCARD");
                }

                if (Eq(word, "release"))
                {
                    return TransactionControl(TransactionControlKind.ReleaseSavepoint, "RELEASE SAVEPOINT");
                }

                if (Eq(word, "analyze") || Eq(word, "analyse") || Eq(word, "cluster") || Eq(word, "reindex") ||
                    Eq(word, "refresh") || Eq(word, "comment"))
                {
                    return Ddl(word);
                }

                break;
            case 8:
                if (Eq(word, "rollback"))
                {
                    return ClassifyRollback(from, to);
                }

                if (Eq(word, "unlisten"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "UNLISTEN");
                }

                if (Eq(word, "truncate") || Eq(word, "security") || Eq(word, "reassign"))
                {
                    return Ddl(word);
                }

                break;
            case 9:
                if (Eq(word, "savepoint"))
                {
                    return TransactionControl(TransactionControlKind.Savepoint, "SAVEPOINT");
                }

                break;
            case 10:
                if (Eq(word, "deallocate"))
                {
                    return new StatementVerdict(StatementKind.SessionState, "DEALLOCATE");
                }

                if (Eq(word, "checkpoint"))
                {
                    return Ddl(word);
                }

                break;
        }

        return new StatementVerdict(StatementKind.Write, NotUnderstood);
    }

    private static StatementVerdict TransactionControl(TransactionControlKind kind, string reason) =>
        new(StatementKind.TransactionControl, reason) { TransactionControl = kind };

    private static StatementVerdict Ddl(ReadOnlySpan<char> keyword) =>
        new(StatementKind.Write, string.Concat(keyword.ToString().ToUpperInvariant(), " (DDL or maintenance)"));

    private StatementVerdict ClassifyBegin(int next, int to)
    {
        // BEGIN [WORK | TRANSACTION] modes / START TRANSACTION modes.
        if (Is(next, "work") || Is(next, "transaction"))
        {
            next++;
        }

        var mode = AccessMode(next, to);
        return new StatementVerdict(StatementKind.TransactionControl, mode == TransactionAccessMode.ReadOnly ? "BEGIN READ ONLY" : "BEGIN")
        {
            TransactionControl = TransactionControlKind.Begin,
            AccessMode = mode,
        };
    }

    private readonly TransactionAccessMode AccessMode(int from, int to)
    {
        var mode = TransactionAccessMode.None;
        for (int i = from; i + 1 < to; i++)
        {
            if (Is(i, "read"))
            {
                if (Is(i + 1, "only"))
                {
                    mode = TransactionAccessMode.ReadOnly;
                }
                else if (Is(i + 1, "write"))
                {
                    mode = TransactionAccessMode.ReadWrite;
                }
            }
        }

        return mode;
    }

    private StatementVerdict ClassifyRollback(int from, int to)
    {
        int next = from + 1;
        if (Is(next, "prepared"))
        {
            return new StatementVerdict(StatementKind.Write, "ROLLBACK PREPARED (two-phase commit)");
        }

        if (Is(next, "work") || Is(next, "transaction"))
        {
            next++;
        }

        return next < to && Is(next, "to")
            ? TransactionControl(TransactionControlKind.RollbackToSavepoint, "ROLLBACK TO SAVEPOINT")
            : TransactionControl(TransactionControlKind.Rollback, "ROLLBACK");
    }

    private StatementVerdict ClassifySet(int from, int to)
    {
        int next = from + 1;
        if (Is(next, "local"))
        {
            // Lasts until the end of the transaction: harmless wherever the transaction runs, a no-op outside one.
            return new StatementVerdict(StatementKind.Read, "SET LOCAL (lasts until the end of the transaction)");
        }

        if (Is(next, "constraints"))
        {
            return new StatementVerdict(StatementKind.Read, "SET CONSTRAINTS (lasts until the end of the transaction)");
        }

        if (Is(next, "transaction"))
        {
            var mode = AccessMode(next + 1, to);
            return new StatementVerdict(StatementKind.TransactionControl, mode == TransactionAccessMode.ReadOnly ? "SET TRANSACTION READ ONLY" : "SET TRANSACTION")
            {
                TransactionControl = TransactionControlKind.SetTransaction,
                AccessMode = mode,
            };
        }

        return new StatementVerdict(StatementKind.SessionState, "SET");
    }

    private StatementVerdict ClassifyCreate(int from, int to)
    {
        int next = from + 1;
        if (Is(next, "or") && Is(next + 1, "replace"))
        {
            next += 2;
        }

        if (Is(next, "global") || Is(next, "local"))
        {
            next++;
        }

        if (Is(next, "temp") || Is(next, "temporary"))
        {
            return new StatementVerdict(StatementKind.SessionState, "CREATE TEMP (a temporary object lives in the session)");
        }

        // An object created in pg_temp is temporary too; its name comes before any "(" or AS.
        for (int i = next; i < to && i < next + 16; i++)
        {
            if (_tokens[i].Kind == SqlTokenKind.LeftParen || Is(i, "as"))
            {
                break;
            }

            if (IsTempSchema(i))
            {
                return new StatementVerdict(StatementKind.SessionState, "CREATE in pg_temp (a temporary object lives in the session)");
            }
        }

        return new StatementVerdict(StatementKind.Write, "CREATE (DDL)");
    }

    private readonly bool IsTempSchema(int i) =>
        Is(i, "pg_temp") && i + 1 < _tokens.Length && _tokens[i + 1].Kind == SqlTokenKind.Dot;

    private StatementVerdict ClassifyExplain(int from, int to, int nesting)
    {
        int next = from + 1;
        bool analyze = false;
        if (next < to && _tokens[next].Kind == SqlTokenKind.LeftParen)
        {
            int close = _tokens[next].Partner;
            if (close < 0 || close >= to)
            {
                return new StatementVerdict(StatementKind.Write, NotUnderstood);
            }

            for (int i = next + 1; i < close; i++)
            {
                bool optionStart = _tokens[i - 1].Kind is SqlTokenKind.LeftParen or SqlTokenKind.Comma;
                if (optionStart && (Is(i, "analyze") || Is(i, "analyse")))
                {
                    analyze = i + 1 >= close || _tokens[i + 1].Kind == SqlTokenKind.Comma || !IsFalse(i + 1);
                }
            }

            next = close + 1;
        }
        else
        {
            if (Is(next, "analyze") || Is(next, "analyse"))
            {
                analyze = true;
                next++;
            }

            if (Is(next, "verbose"))
            {
                next++;
            }
        }

        if (next >= to)
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        if (!analyze)
        {
            // Plans without executing: no function runs (volatile ones are never evaluated at plan time).
            return new StatementVerdict(StatementKind.Read, "EXPLAIN without ANALYZE (plans, does not execute)");
        }

        var inner = ClassifyStatement(next, to, nesting + 1);
        return new StatementVerdict(inner.Kind, "EXPLAIN ANALYZE executes " + inner.Reason)
        {
            ExecutedName = inner.ExecutedName,
        };
    }

    private StatementVerdict ClassifyPrepare(int from, int to, int nesting)
    {
        int name = from + 1;
        if (Is(name, "transaction"))
        {
            return new StatementVerdict(StatementKind.Write, "PREPARE TRANSACTION (two-phase commit)");
        }

        if (!IsName(name, to))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        int next = SkipParenthesized(name + 1, to);
        if (!Is(next, "as"))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        var body = ClassifyStatement(next + 1, to, nesting + 1);
        string preparedName = Canonical(name, name, isFunction: false);
        return new StatementVerdict(StatementKind.SessionState, "PREPARE (a prepared statement lives in the session)")
        {
            PreparedName = preparedName,
            PreparedKind = body.Kind,
        };
    }

    private StatementVerdict ClassifyExecute(int from, int to)
    {
        int name = from + 1;
        if (!IsName(name, to))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        string executedName = Canonical(name, name, isFunction: false);
        var verdict = new StatementVerdict(StatementKind.Read, "EXECUTE") { ExecutedName = executedName };
        int open = name + 1;
        if (open < to && _tokens[open].Kind == SqlTokenKind.LeftParen && _tokens[open].Partner > open && _tokens[open].Partner < to)
        {
            // The parameters are expressions, evaluated by EXECUTE: their calls count.
            ScanTokens(open + 1, _tokens[open].Partner, ref verdict);
        }

        // What it runs is known to the session (PreparedStatementKind of its PREPARE), not to this text.
        // A PREPARE in the same text would make the text session state anyway, which outranks this.
        verdict.Raise(StatementKind.Write, "EXECUTE (the prepared statement's kind is known to the session)");
        return verdict;
    }

    private StatementVerdict ClassifyDeclare(int from, int to)
    {
        // DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD] FOR query
        int i = from + 2;
        while (i < to && _tokens[i].Kind == SqlTokenKind.Word && !Is(i, "cursor"))
        {
            i++;
        }

        if (!Is(i, "cursor"))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        i++;
        bool hold = false;
        if ((Is(i, "with") || Is(i, "without")) && Is(i + 1, "hold"))
        {
            hold = Is(i, "with");
            i += 2;
        }

        if (!Is(i, "for") || i + 1 >= to)
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        var query = ScanQuery(i + 1, to, "DECLARE CURSOR (runs within its transaction)");
        if (hold)
        {
            query.Raise(StatementKind.SessionState, "DECLARE ... WITH HOLD (the cursor outlives the transaction in the session)");
        }

        return query;
    }

    private StatementVerdict ClassifyCopy(int from, int to)
    {
        int i = from + 1;
        int queryFrom = -1;
        int queryTo = -1;
        if (i < to && _tokens[i].Kind == SqlTokenKind.LeftParen)
        {
            int close = _tokens[i].Partner;
            if (close < 0 || close >= to)
            {
                return new StatementVerdict(StatementKind.Write, NotUnderstood);
            }

            queryFrom = i + 1;
            queryTo = close;
            i = close + 1;
        }
        else
        {
            if (Is(i, "binary"))
            {
                i++;
            }

            if (!IsName(i, to))
            {
                return new StatementVerdict(StatementKind.Write, NotUnderstood);
            }

            i = SkipQualifiedName(i, to) + 1;
            i = SkipParenthesized(i, to);
        }

        if (Is(i, "from"))
        {
            return new StatementVerdict(StatementKind.Write, "COPY ... FROM");
        }

        if (!Is(i, "to"))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        if (Is(i + 1, "program"))
        {
            return new StatementVerdict(StatementKind.Write, "COPY ... TO PROGRAM (runs a program on the server)");
        }

        return queryFrom < 0
            ? new StatementVerdict(StatementKind.Read, "COPY ... TO")
            : ScanQuery(queryFrom, queryTo, "COPY (query) TO");
    }

    // ---- queries and DML ----------------------------------------------------------------------

    private StatementVerdict ScanQuery(int from, int to, string readReason)
    {
        var verdict = new StatementVerdict(StatementKind.Read, readReason);
        ScanTokens(from, to, ref verdict);
        return verdict;
    }

    /// <summary>
    /// One pass over a query or DML statement: data-modifying statements at any depth, locking clauses,
    /// SELECT INTO, and function calls with the effects of the built-ins among them.
    /// </summary>
    private void ScanTokens(int from, int to, ref StatementVerdict verdict)
    {
        for (int i = from; i < to; i++)
        {
            var token = _tokens[i];
            switch (token.Kind)
            {
                case SqlTokenKind.DoubleColon:
                    // A type name follows, perhaps with a modifier in parentheses: not a call.
                    i = SkipTypeName(i + 1, to) - 1;
                    break;

                case SqlTokenKind.Word:
                    if (i > from && _tokens[i - 1].Kind == SqlTokenKind.Dot)
                    {
                        break;
                    }

                    if (i == from || _tokens[i - 1].Kind == SqlTokenKind.LeftParen || token.IsStatementStart)
                    {
                        if (Is(i, "with"))
                        {
                            // A WITH inside parentheses ends at their closing one.
                            int end = i > from && _tokens[i - 1].Kind == SqlTokenKind.LeftParen && _tokens[i - 1].Partner > i ? Math.Min(_tokens[i - 1].Partner, to) : to;
                            if (!MarkCommonTableExpressions(i, end))
                            {
                                verdict.Raise(StatementKind.Write, "WITH clause not understood");
                            }
                        }
                        else if (DataModification(i) is { } statement)
                        {
                            verdict.Raise(StatementKind.Write, i == from ? statement : "data-modifying statement inside WITH or a subquery");
                        }
                    }
                    else if (Is(i, "for"))
                    {
                        CheckLockingClause(i, ref verdict);
                    }
                    else if (Is(i, "into"))
                    {
                        CheckSelectInto(i, from, ref verdict);
                    }

                    i = CheckCall(i, from, to, ref verdict);
                    break;

                case SqlTokenKind.QuotedIdentifier:
                    if (i > from && _tokens[i - 1].Kind == SqlTokenKind.Dot)
                    {
                        break;
                    }

                    i = CheckCall(i, from, to, ref verdict);
                    break;

                case SqlTokenKind.Semicolon:
                    // Only inside parentheses (or a BEGIN ATOMIC body) does a statement keep its semicolons.
                    verdict.Raise(StatementKind.Write, "semicolon inside parentheses");
                    break;

                case SqlTokenKind.Parameter:
                    // "@f(...)" is PostgreSQL's prefix operator @ applied to f(...) once Npgsql leaves it alone.
                    if (i + 1 < to && _tokens[i + 1].Kind == SqlTokenKind.LeftParen && token.Length > 1 && _sql[token.Start] is '@' or ':')
                    {
                        RecordCall(Canonical(_sql.Slice(token.Start + 1, token.Length - 1)), i + 1, ref verdict);
                    }

                    break;
            }
        }
    }

    private readonly string? DataModification(int i) =>
        Is(i, "insert") ? "INSERT"
        : Is(i, "update") ? "UPDATE"
        : Is(i, "delete") ? "DELETE"
        : Is(i, "merge") ? "MERGE"
        : null;

    private readonly void CheckLockingClause(int i, ref StatementVerdict verdict)
    {
        string? clause =
            Is(i + 1, "update") ? "SELECT ... FOR UPDATE"
            : Is(i + 1, "share") ? "SELECT ... FOR SHARE"
            : Is(i + 1, "no") && Is(i + 2, "key") && Is(i + 3, "update") ? "SELECT ... FOR NO KEY UPDATE"
            : Is(i + 1, "key") && Is(i + 2, "share") ? "SELECT ... FOR KEY SHARE"
            : null;
        if (clause is not null)
        {
            verdict.Raise(StatementKind.Write, clause);
        }
    }

    private readonly void CheckSelectInto(int i, int from, ref StatementVerdict verdict)
    {
        if (i > from && (Is(i - 1, "insert") || Is(i - 1, "merge")))
        {
            return;
        }

        int next = i + 1;
        if (Is(next, "global") || Is(next, "local"))
        {
            next++;
        }

        if (Is(next, "temp") || Is(next, "temporary"))
        {
            verdict.Raise(StatementKind.SessionState, "SELECT ... INTO TEMP (a temporary table lives in the session)");
            return;
        }

        if (Is(next, "unlogged"))
        {
            next++;
        }

        if (Is(next, "table"))
        {
            next++;
        }

        verdict.Raise(
            IsTempSchema(next) ? StatementKind.SessionState : StatementKind.Write,
            IsTempSchema(next) ? "SELECT ... INTO pg_temp (a temporary table lives in the session)" : "SELECT ... INTO (creates a table)");
    }

    /// <summary>
    /// Walks <c>WITH [RECURSIVE] name [(columns)] AS [NOT] [MATERIALIZED] (query) [SEARCH ...] [CYCLE ...], ...</c>,
    /// marks each name (its column list is not a call) and the main statement (where a data-modifying
    /// statement may stand). False when the clause does not have that shape.
    /// </summary>
    private readonly bool MarkCommonTableExpressions(int with, int to)
    {
        int i = with + 1;
        if (Is(i, "recursive"))
        {
            i++;
        }

        while (i < to)
        {
            if (!IsName(i, to))
            {
                return false;
            }

            int name = i;
            i = SkipParenthesized(i + 1, to);
            if (!Is(i, "as"))
            {
                return false;
            }

            i++;
            if (Is(i, "not"))
            {
                i++;
            }

            if (Is(i, "materialized"))
            {
                i++;
            }

            if (i >= to || _tokens[i].Kind != SqlTokenKind.LeftParen || _tokens[i].Partner < 0 || _tokens[i].Partner >= to)
            {
                return false;
            }

            _tokens[name].IsCteName = true;
            i = _tokens[i].Partner + 1;
            if (Is(i, "search"))
            {
                i = SkipPastWord(i, to, "set") + 1;
            }

            if (Is(i, "cycle"))
            {
                i = SkipPastWord(i, to, "using") + 1;
            }

            if (i < to && _tokens[i].Kind == SqlTokenKind.Comma)
            {
                i++;
                continue;
            }

            if (i >= to)
            {
                return false;
            }

            _tokens[i].IsStatementStart = true;
            return true;
        }

        return false;
    }

    // ---- function calls -------------------------------------------------------------------------

    /// <summary>
    /// If the (qualified) name starting at <paramref name="first"/> is called, records it and applies its
    /// effect. Returns the index of the name's last token.
    /// </summary>
    private int CheckCall(int first, int from, int to, ref StatementVerdict verdict)
    {
        int last = SkipQualifiedName(first, to);
        int open = last + 1;
        if (open < to && _tokens[open].Kind == SqlTokenKind.LeftParen && IsCall(first, last, from))
        {
            RecordCall(Canonical(first, last, isFunction: true), open, ref verdict);
        }

        return last;
    }

    private readonly bool IsCall(int first, int last, int from)
    {
        if (_tokens[first].IsCteName)
        {
            return false;
        }

        if (first == last && _tokens[first].Kind == SqlTokenKind.Word)
        {
            ReadOnlySpan<char> word = Text(first);
            switch (SqlKeywords.Of(word))
            {
                case KeywordCategory.Reserved:
                case KeywordCategory.ColumnName:
                    // CAST(, ANY(, COALESCE(, EXTRACT(, numeric(10,2) ...: syntax, not functions.
                    return false;
                case KeywordCategory.TypeFunctionName:
                    // JOIN (, LIKE (, OVERLAPS ( are syntax; these three are functions.
                    return Eq(word, "left") || Eq(word, "right") || Eq(word, "current_schema");
                case KeywordCategory.Unreserved when SyntaxBeforeParenthesisLookup.Contains(word):
                    return false;
                case KeywordCategory.None when FunctionStyleCastLookup.Contains(word):
                    return false;
            }
        }

        if (first == from)
        {
            return true;
        }

        var previous = _tokens[first - 1];
        switch (previous.Kind)
        {
            case SqlTokenKind.Word:
                ReadOnlySpan<char> word = Text(first - 1);
                if (Eq(word, "as") || Eq(word, "into") || Eq(word, "references") || Eq(word, "tablesample") || Eq(word, "table"))
                {
                    // AS t(a, b), CAST(x AS numeric(3)), INSERT INTO t(a), TABLESAMPLE bernoulli(10).
                    return false;
                }

                // After a plain identifier: "FROM tbl t(a, b)", an alias with a column list. After a
                // keyword (SELECT, FROM, BY, CALL ...): a call.
                return SqlKeywords.Of(word) != KeywordCategory.None;

            case SqlTokenKind.QuotedIdentifier:
                return false;

            case SqlTokenKind.RightParen:
                // "FROM f(x) g(a)" is an alias; only DISTINCT ON (...) and OPERATOR(...) can be followed by a call.
                int open = previous.Partner;
                return open > 0 && (Is(open - 1, "operator") || (Is(open - 1, "on") && open > 1 && Is(open - 2, "distinct")));

            default:
                return true;
        }
    }

    private void RecordCall(string name, int open, ref StatementVerdict verdict)
    {
        switch (BuiltinFunctions.GetEffect(name))
        {
            case BuiltinFunctionEffect.Write when verdict.WouldRaise(StatementKind.Write):
                verdict.Raise(StatementKind.Write, "calls " + name + "()");
                break;
            case BuiltinFunctionEffect.SessionState when verdict.WouldRaise(StatementKind.SessionState):
                verdict.Raise(StatementKind.SessionState, "calls " + name + "() (session state)");
                break;
            case BuiltinFunctionEffect.DependsOnArguments:
                // set_config(name, value, is_local): only a literal true keeps it within the transaction.
                if (!IsTrue(Argument(open, 2)))
                {
                    verdict.Raise(StatementKind.SessionState, "calls set_config() without is_local (session state)");
                }

                break;
        }
    }

    /// <summary>The token range of argument <paramref name="index"/> (0-based) of the call whose "(" is at <paramref name="open"/>.</summary>
    private readonly Range Argument(int open, int index)
    {
        int close = _tokens[open].Partner;
        if (close < 0)
        {
            return default;
        }

        int argument = 0;
        int start = open + 1;
        int brackets = 0;
        for (int i = open + 1; i < close; i++)
        {
            switch (_tokens[i].Kind)
            {
                case SqlTokenKind.LeftParen when _tokens[i].Partner > i:
                    i = _tokens[i].Partner;
                    break;
                case SqlTokenKind.LeftBracket:
                    brackets++;
                    break;
                case SqlTokenKind.RightBracket:
                    brackets--;
                    break;
                case SqlTokenKind.Comma when brackets == 0:
                    if (argument == index)
                    {
                        return start..i;
                    }

                    argument++;
                    start = i + 1;
                    break;
            }
        }

        return argument == index ? start..close : default;
    }

    private readonly bool IsTrue(Range argument)
    {
        var (start, length) = argument.GetOffsetAndLength(_tokens.Length);
        if (length != 1)
        {
            return false;
        }

        var token = _tokens[start];
        ReadOnlySpan<char> text = Text(start);
        return token.Kind switch
        {
            SqlTokenKind.Word => Eq(text, "true"),
            SqlTokenKind.String when text.Length > 2 && text[0] == '\'' => IsTrueLiteral(text[1..^1]),
            _ => false,
        };
    }

    private static bool IsTrueLiteral(ReadOnlySpan<char> value) =>
        Eq(value, "t") || Eq(value, "true") || Eq(value, "on") || Eq(value, "y") || Eq(value, "yes") || Eq(value, "1");

    private readonly bool IsFalse(int i)
    {
        ReadOnlySpan<char> text = Text(i);
        return _tokens[i].Kind switch
        {
            SqlTokenKind.Word => Eq(text, "false") || Eq(text, "off"),
            SqlTokenKind.Number => text.SequenceEqual("0"),
            SqlTokenKind.String when text.Length > 2 && text[0] == '\'' =>
                Eq(text[1..^1], "f") || Eq(text[1..^1], "false") || Eq(text[1..^1], "off") || Eq(text[1..^1], "n") ||
                Eq(text[1..^1], "no") || Eq(text[1..^1], "0"),
            _ => false,
        };
    }

    // ---- names and helpers ----------------------------------------------------------------------

    /// <summary>The canonical name of tokens <paramref name="first"/>..<paramref name="last"/>; a function
    /// name joins <see cref="SqlClassification.Functions"/>.</summary>
    private string Canonical(int first, int last, bool isFunction)
    {
        int max = CanonicalNames.MaxLength(_tokens, first, last);
        char[]? rented = null;
        Span<char> buffer = max <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            int length = CanonicalNames.Write(_sql, _tokens, first, last, buffer);
            return isFunction ? (_functions ??= new FunctionNameSet()).GetOrAdd(buffer[..length]) : buffer[..length].ToString();
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The canonical name of a function written after a placeholder prefix (<c>@f(...)</c>).</summary>
    private string Canonical(ReadOnlySpan<char> word)
    {
        char[]? rented = null;
        Span<char> buffer = word.Length <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(word.Length));
        try
        {
            int length = word.ToLowerInvariant(buffer);
            return (_functions ??= new FunctionNameSet()).GetOrAdd(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private readonly int SkipQualifiedName(int first, int to)
    {
        int last = first;
        while (last + 2 < to && _tokens[last + 1].Kind == SqlTokenKind.Dot &&
               _tokens[last + 2].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier)
        {
            last += 2;
        }

        return last;
    }

    private readonly int SkipTypeName(int i, int to)
    {
        if (i < to && _tokens[i].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier)
        {
            i = SkipQualifiedName(i, to) + 1;
            i = SkipParenthesized(i, to);
        }

        return i;
    }

    /// <summary>If a "(" stands at <paramref name="i"/>, the index after its ")"; otherwise <paramref name="i"/>.</summary>
    private readonly int SkipParenthesized(int i, int to)
    {
        if (i < to && _tokens[i].Kind == SqlTokenKind.LeftParen && _tokens[i].Partner > i && _tokens[i].Partner < to)
        {
            return _tokens[i].Partner + 1;
        }

        return i;
    }

    private readonly int SkipPastWord(int i, int to, string word)
    {
        for (; i < to; i++)
        {
            if (Is(i, word))
            {
                return i + 1;
            }

            if (_tokens[i].Kind == SqlTokenKind.RightParen)
            {
                return i;
            }

            if (_tokens[i].Kind == SqlTokenKind.LeftParen && _tokens[i].Partner > i)
            {
                i = _tokens[i].Partner;
            }
        }

        return to;
    }

    private readonly bool IsName(int i, int to) =>
        i < to && _tokens[i].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier;

    private readonly ReadOnlySpan<char> Text(int i) => _sql.Slice(_tokens[i].Start, _tokens[i].Length);

    private readonly bool Is(int i, string keyword) =>
        (uint)i < (uint)_tokens.Length &&
        _tokens[i].Kind == SqlTokenKind.Word &&
        _tokens[i].Length == keyword.Length &&
        Eq(_sql.Slice(_tokens[i].Start, keyword.Length), keyword);

    private static bool Eq(ReadOnlySpan<char> text, string keyword) =>
        text.Equals(keyword, StringComparison.OrdinalIgnoreCase);
}
