using System.Collections.Frozen;

namespace RoutingDataSource.Classification;

/// <summary>Per-statement rules: the first keywords decide, and the statements that embed another one (EXPLAIN, PREPARE, DECLARE, COPY) classify it.</summary>
internal ref partial struct SqlAnalyzer
{
    private static readonly FrozenDictionary<string, LeadingKeyword> LeadingKeywords = BuildLeadingKeywords();

    private static readonly FrozenDictionary<string, LeadingKeyword>.AlternateLookup<ReadOnlySpan<char>> LeadingKeywordLookup =
        LeadingKeywords.GetAlternateLookup<ReadOnlySpan<char>>();

    private static FrozenDictionary<string, LeadingKeyword> BuildLeadingKeywords()
    {
        var keywords = new Dictionary<string, LeadingKeyword>(StringComparer.OrdinalIgnoreCase);
        foreach (var keyword in Enum.GetValues<LeadingKeyword>())
        {
            if (keyword != LeadingKeyword.Ddl)
            {
                keywords.Add(keyword.ToString(), keyword);
            }
        }

        string[] ddlAndMaintenance =
        [
            "alter", "drop", "grant", "revoke", "import", "vacuum", "analyze", "analyse", "cluster", "reindex", "refresh",
            "comment", "truncate", "security", "reassign", "checkpoint",
        ];
        foreach (string ddl in ddlAndMaintenance)
        {
            keywords.Add(ddl, LeadingKeyword.Ddl);
        }

        return keywords.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

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
        if (!LeadingKeywordLookup.TryGetValue(word, out var keyword))
        {
            return new StatementVerdict(StatementKind.Write, NotUnderstood);
        }

        return keyword switch
        {
            LeadingKeyword.Select => ScanQuery(from, to, "SELECT"),
            LeadingKeyword.With => ScanQuery(from, to, "WITH"),
            LeadingKeyword.Values => ScanQuery(from, to, "VALUES"),
            LeadingKeyword.Table => ScanQuery(from, to, "TABLE"),
            LeadingKeyword.Insert => ScanQuery(from, to, "INSERT"),
            LeadingKeyword.Update => ScanQuery(from, to, "UPDATE"),
            LeadingKeyword.Delete => ScanQuery(from, to, "DELETE"),
            LeadingKeyword.Merge => ScanQuery(from, to, "MERGE"),
            LeadingKeyword.Show => new StatementVerdict(StatementKind.Read, "SHOW"),
            LeadingKeyword.Explain => ClassifyExplain(from, to, nesting),
            LeadingKeyword.Copy => ClassifyCopy(from, to),
            LeadingKeyword.Declare => ClassifyDeclare(from, to),
            LeadingKeyword.Prepare => ClassifyPrepare(from, to, nesting),
            LeadingKeyword.Execute => ClassifyExecute(from, to),
            LeadingKeyword.Call => ClassifyCall(from, to),
            LeadingKeyword.Set => ClassifySet(from, to),
            LeadingKeyword.Create => ClassifyCreate(from, to),
            LeadingKeyword.Begin => ClassifyBegin(from + 1, to),
            LeadingKeyword.Start => Is(from + 1, "transaction")
                ? ClassifyBegin(from + 1, to)
                : new StatementVerdict(StatementKind.Write, NotUnderstood),
            LeadingKeyword.Commit => Is(from + 1, "prepared")
                ? new StatementVerdict(StatementKind.Write, "COMMIT PREPARED (two-phase commit)")
                : EndTransaction(TransactionControlKind.Commit, "COMMIT", from, to),
            LeadingKeyword.End => EndTransaction(TransactionControlKind.Commit, "END", from, to),
            LeadingKeyword.Rollback => ClassifyRollback(from, to),
            LeadingKeyword.Abort => EndTransaction(TransactionControlKind.Rollback, "ABORT", from, to),
            LeadingKeyword.Savepoint => TransactionControl(TransactionControlKind.Savepoint, "SAVEPOINT"),
            LeadingKeyword.Release => TransactionControl(TransactionControlKind.ReleaseSavepoint, "RELEASE SAVEPOINT"),
            LeadingKeyword.Fetch => new StatementVerdict(StatementKind.Read, "FETCH (cursor: runs where the cursor lives)"),
            LeadingKeyword.Move => new StatementVerdict(StatementKind.Read, "MOVE (cursor: runs where the cursor lives)"),
            LeadingKeyword.Close => new StatementVerdict(StatementKind.Read, "CLOSE (cursor: runs where the cursor lives)"),
            LeadingKeyword.Reset => new StatementVerdict(StatementKind.SessionState, "RESET"),
            LeadingKeyword.Discard => new StatementVerdict(StatementKind.SessionState, "DISCARD"),
            LeadingKeyword.Listen => new StatementVerdict(StatementKind.SessionState, "LISTEN"),
            LeadingKeyword.Unlisten => new StatementVerdict(StatementKind.SessionState, "UNLISTEN"),
            LeadingKeyword.Load => new StatementVerdict(StatementKind.SessionState, "LOAD (a library into the session)"),
            LeadingKeyword.Deallocate => new StatementVerdict(StatementKind.SessionState, "DEALLOCATE"),
            LeadingKeyword.Notify => new StatementVerdict(StatementKind.Write, "NOTIFY"),
            LeadingKeyword.Do => new StatementVerdict(StatementKind.Write, "DO (anonymous code block)"),
            LeadingKeyword.Lock => new StatementVerdict(StatementKind.Write, "LOCK"),
            _ => Ddl(word),
        };
    }

    private StatementVerdict ClassifyCall(int from, int to)
    {
        var call = new StatementVerdict(StatementKind.Write, "CALL");
        ScanTokens(from, to, ref call);
        return call;
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
            : EndTransaction(TransactionControlKind.Rollback, "ROLLBACK", from, to);
    }

    /// <summary>COMMIT / END / ROLLBACK / ABORT [WORK | TRANSACTION] [AND [NO] CHAIN].</summary>
    private readonly StatementVerdict EndTransaction(TransactionControlKind kind, string reason, int from, int to)
    {
        int and = from + 1;
        if (Is(and, "work") || Is(and, "transaction"))
        {
            and++;
        }

        bool chain = and + 1 < to && Is(and, "and") && Is(and + 1, "chain");
        return new StatementVerdict(StatementKind.TransactionControl, chain ? reason + " AND CHAIN" : reason)
        {
            TransactionControl = kind,
            ChainsTransaction = chain,
        };
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
        if (next < to && _tokens[next].Kind == SqlTokenKind.LeftParen && !StartsQuery(next + 1))
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

    /// <summary>True when a query starts at <paramref name="i"/>: "EXPLAIN (SELECT 1)" has no option list.</summary>
    private readonly bool StartsQuery(int i) =>
        (uint)i < (uint)_tokens.Length &&
        (_tokens[i].Kind == SqlTokenKind.LeftParen || Is(i, "select") || Is(i, "with") || Is(i, "values") || Is(i, "table"));

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
}
