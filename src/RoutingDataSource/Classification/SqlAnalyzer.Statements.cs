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
            // Outside a transaction only a cursor WITH HOLD is there to fetch from: it lives in the primary session.
            LeadingKeyword.Fetch => new StatementVerdict(StatementKind.Read, "FETCH (cursor: runs where the cursor lives)") { Effect = SessionEffect.PrimarySessionRead },
            LeadingKeyword.Move => new StatementVerdict(StatementKind.Read, "MOVE (cursor: runs where the cursor lives)") { Effect = SessionEffect.PrimarySessionRead },
            LeadingKeyword.Close => new StatementVerdict(StatementKind.Read, "CLOSE (cursor: runs where the cursor lives)") { Effect = SessionEffect.PrimarySessionRead },
            LeadingKeyword.Reset => ClassifyReset(from, to),
            LeadingKeyword.Discard => ClassifyDiscard(from),
            LeadingKeyword.Listen => new StatementVerdict(StatementKind.SessionState, "LISTEN") { Effect = SessionEffect.Listen },
            LeadingKeyword.Unlisten => new StatementVerdict(StatementKind.SessionState, "UNLISTEN") { Effect = SessionEffect.Listen },
            LeadingKeyword.Load => new StatementVerdict(StatementKind.SessionState, "LOAD (a library into the session)") { Effect = SessionEffect.Pins },
            LeadingKeyword.Deallocate => ClassifyDeallocate(from, to),
            LeadingKeyword.Notify => new StatementVerdict(StatementKind.Write, "NOTIFY"),
            LeadingKeyword.Do => new StatementVerdict(StatementKind.Write, "DO (anonymous code block)"),
            LeadingKeyword.Lock => new StatementVerdict(StatementKind.Write, "LOCK"),
            _ => Is(from, "alter") ? ClassifyAlter(from, to) : Ddl(word),
        };
    }

    /// <summary>Whether the statement at <paramref name="from"/> is a query or DML (SELECT, WITH, VALUES, TABLE, INSERT,
    /// UPDATE, DELETE, MERGE): one that runs wherever a transaction block may stand.</summary>
    private bool IsPlainDml(int from)
    {
        var first = _tokens[from];
        if (first.Kind == SqlTokenKind.LeftParen)
            return true;
        return first.Kind == SqlTokenKind.Word && LeadingKeywordLookup.TryGetValue(Text(from), out var keyword) &&
            keyword is LeadingKeyword.Select or LeadingKeyword.With or LeadingKeyword.Values or LeadingKeyword.Table
                or LeadingKeyword.Insert or LeadingKeyword.Update or LeadingKeyword.Delete or LeadingKeyword.Merge;
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

    /// <summary>
    /// <c>ALTER {TABLE | VIEW | SEQUENCE | MATERIALIZED VIEW} name RENAME TO new</c> names an object anew: the new
    /// name is reported as <see cref="StatementVerdict.CreatedName"/>, so a renamed temporary table stays one.
    /// </summary>
    private StatementVerdict ClassifyAlter(int from, int to)
    {
        var verdict = Ddl("alter");
        int kind = Is(from + 1, "materialized") ? from + 2 : from + 1;
        if (!(Is(kind, "table") || Is(kind, "view") || Is(kind, "sequence")) || to - from < 4)
        {
            return verdict;
        }

        // The statement ends with RENAME TO name (a column rename has a name or COLUMN after RENAME).
        if (Is(to - 3, "rename") && Is(to - 2, "to") && IsName(to - 1, to))
        {
            verdict.CreatedName = RelationNames.Normalize(Text(to - 1), _tokens[to - 1].Kind == SqlTokenKind.QuotedIdentifier);
        }

        return verdict;
    }

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

        if (Is(next, "session"))
        {
            if (Is(next + 1, "characteristics"))
            {
                // The transaction defaults: SERIALIZABLE cannot run on a hot standby at all.
                return new StatementVerdict(StatementKind.SessionState, "SET SESSION CHARACTERISTICS") { Effect = SessionEffect.Pins };
            }

            if (Is(next + 1, "authorization"))
            {
                return new StatementVerdict(StatementKind.SessionState, "SET SESSION AUTHORIZATION") { Effect = SessionEffect.Identity, EffectKey = "session_authorization" };
            }

            next++;
        }

        string? key =
            Is(next, "role") ? "role"
            : Is(next, "schema") ? "search_path"
            : Is(next, "names") ? "client_encoding"
            : Is(next, "time") && Is(next + 1, "zone") ? "timezone"
            : Is(next, "xml") && Is(next + 1, "option") ? "xmloption"
            : IsName(next, to) ? Canonical(next, SkipQualifiedName(next, to), isFunction: false)
            : null;
        return key switch
        {
            null => new StatementVerdict(StatementKind.SessionState, "SET") { Effect = SessionEffect.Pins },
            "role" or "session_authorization" => new StatementVerdict(StatementKind.SessionState, "SET ROLE") { Effect = SessionEffect.Identity, EffectKey = key },
            // Isolation defaults: SERIALIZABLE cannot run on a hot standby; kept on the primary session.
            "default_transaction_isolation" or "transaction_isolation" or "transaction_read_only" or "default_transaction_deferrable" or "transaction_deferrable"
                => new StatementVerdict(StatementKind.SessionState, "SET (transaction defaults)") { Effect = SessionEffect.Pins },
            _ => new StatementVerdict(StatementKind.SessionState, "SET") { Effect = SessionEffect.Set, EffectKey = key },
        };
    }

    private StatementVerdict ClassifyReset(int from, int to)
    {
        int next = from + 1;
        if (Is(next, "all"))
        {
            return new StatementVerdict(StatementKind.SessionState, "RESET ALL") { Effect = SessionEffect.ResetAll };
        }

        if (Is(next, "role") || (Is(next, "session") && Is(next + 1, "authorization")))
        {
            return new StatementVerdict(StatementKind.SessionState, "RESET ROLE") { Effect = SessionEffect.Identity, EffectKey = Is(next, "role") ? "role" : "session_authorization" };
        }

        string? key = Is(next, "time") && Is(next + 1, "zone") ? "timezone"
            : IsName(next, to) ? Canonical(next, SkipQualifiedName(next, to), isFunction: false)
            : null;
        return key is null || key.Contains("isolation", StringComparison.Ordinal) || key.Contains("transaction_", StringComparison.Ordinal)
            ? new StatementVerdict(StatementKind.SessionState, "RESET") { Effect = SessionEffect.Pins }
            : new StatementVerdict(StatementKind.SessionState, "RESET") { Effect = SessionEffect.Reset, EffectKey = key };
    }

    private readonly StatementVerdict ClassifyDiscard(int from)
    {
        int next = from + 1;
        var effect = Is(next, "all") ? SessionEffect.DiscardAll
            : Is(next, "temp") || Is(next, "temporary") ? SessionEffect.DiscardTemp
            : Is(next, "plans") || Is(next, "sequences") ? SessionEffect.DiscardOther
            : SessionEffect.Pins;
        return new StatementVerdict(StatementKind.SessionState, "DISCARD") { Effect = effect };
    }

    private StatementVerdict ClassifyDeallocate(int from, int to)
    {
        int next = from + 1;
        if (Is(next, "prepare"))
        {
            next++;
        }

        if (Is(next, "all"))
        {
            return new StatementVerdict(StatementKind.SessionState, "DEALLOCATE ALL") { Effect = SessionEffect.DeallocateAll };
        }

        return IsName(next, to) && next + 1 == to
            ? new StatementVerdict(StatementKind.SessionState, "DEALLOCATE") { Effect = SessionEffect.Deallocate, EffectKey = Canonical(next, next, isFunction: false) }
            : new StatementVerdict(StatementKind.SessionState, "DEALLOCATE") { Effect = SessionEffect.Pins };
    }

    /// <summary>
    /// The last part of the name of the object a <c>CREATE ... {TABLE | VIEW | SEQUENCE | MATERIALIZED VIEW}</c> makes,
    /// <paramref name="i"/> at that keyword (after <c>RECURSIVE</c>); null when the shape is another.
    /// </summary>
    private string? CreatedObjectName(int i, int to)
    {
        if (Is(i, "recursive"))
        {
            i++;
        }

        if (Is(i, "materialized"))
        {
            i++;
        }

        if (!(Is(i, "table") || Is(i, "view") || Is(i, "sequence")))
        {
            return null;
        }

        i++;
        if (Is(i, "if") && Is(i + 1, "not") && Is(i + 2, "exists"))
        {
            i += 3;
        }

        if (!IsName(i, to))
        {
            return null;
        }

        int last = SkipQualifiedName(i, to);
        return RelationNames.Normalize(Text(last), _tokens[last].Kind == SqlTokenKind.QuotedIdentifier);
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
            string? temp = CreatedObjectName(next + 1, to);
            return new StatementVerdict(StatementKind.SessionState, "CREATE TEMP (a temporary object lives in the session)")
            {
                Effect = temp is null ? SessionEffect.Pins : SessionEffect.CreateTemp,
                EffectKey = temp,
            };
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
                bool named = i + 2 < to && IsName(i + 2, to) && SkipQualifiedName(i + 2, to) == i + 2;
                return new StatementVerdict(StatementKind.SessionState, "CREATE in pg_temp (a temporary object lives in the session)")
                {
                    Effect = named ? SessionEffect.CreateTemp : SessionEffect.Pins,
                    EffectKey = named ? RelationNames.Normalize(Text(i + 2), _tokens[i + 2].Kind == SqlTokenKind.QuotedIdentifier) : null,
                };
            }
        }

        bool unlogged = Is(next, "unlogged");
        return new StatementVerdict(StatementKind.Write, "CREATE (DDL)")
        {
            CreatedName = CreatedObjectName(unlogged ? next + 1 : next, to) ?? CreatedIndexName(next, to),
            CreatedUnlogged = unlogged,
        };
    }

    /// <summary>
    /// The name of the index a <c>CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON ...</c> makes
    /// (<paramref name="i"/> at UNIQUE or INDEX); null when unnamed or another shape. An index of a temporary table is
    /// temporary too.
    /// </summary>
    private string? CreatedIndexName(int i, int to)
    {
        if (Is(i, "unique"))
        {
            i++;
        }

        if (!Is(i, "index"))
        {
            return null;
        }

        i++;
        if (Is(i, "concurrently"))
        {
            i++;
        }

        if (Is(i, "if") && Is(i + 1, "not") && Is(i + 2, "exists"))
        {
            i += 3;
        }

        return IsName(i, to) && !Is(i, "on") && Is(i + 1, "on")
            ? RelationNames.Normalize(Text(i), _tokens[i].Kind == SqlTokenKind.QuotedIdentifier)
            : null;
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
            // EXPLAIN EXECUTE plans a statement prepared in the session (and evaluates its parameters): it needs that
            // prepared statement where it runs, as EXECUTE does.
            if (Is(next, "execute"))
            {
                return ClassifyExecute(next, to);
            }

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
            return new StatementVerdict(StatementKind.Write, "PREPARE TRANSACTION (two-phase commit)") { EndsTransaction = true };
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
            Effect = SessionEffect.Prepare,
            EffectKey = preparedName,
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
            query.Effect = query.Effect == SessionEffect.None ? SessionEffect.HeldCursor : SessionEffect.Pins;
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
