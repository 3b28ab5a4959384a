using System.Collections.Frozen;

namespace RoutingDataSource.Classification;

/// <summary>Function calls: which names followed by a parenthesis are calls, and what the built-ins among them do.</summary>
internal ref partial struct SqlAnalyzer
{
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
            case BuiltinFunctionEffect.Write:
                verdict.NoteWrite();
                if (verdict.WouldRaise(StatementKind.Write))
                {
                    verdict.Raise(StatementKind.Write, "calls " + name + "()");
                }

                break;
            case BuiltinFunctionEffect.SessionState:
                verdict.NoteEffect(BuiltinFunctions.SessionEffectOf(name));
                if (verdict.WouldRaise(StatementKind.SessionState))
                {
                    verdict.Raise(StatementKind.SessionState, "calls " + name + "() (session state)");
                }

                break;
            case BuiltinFunctionEffect.DependsOnArguments:
                // set_config(name, value, is_local): only a literal true keeps it within the transaction.
                if (!IsTrue(Argument(open, 2)))
                {
                    verdict.Raise(StatementKind.SessionState, "calls set_config() without is_local (session state)");
                    NoteSetConfig(open, ref verdict);
                }

                break;
        }
    }

    /// <summary>
    /// <c>set_config('name', 'value', false)</c> with literals only can be replayed on another server; with anything
    /// else (a parameter, an expression) it cannot, and the session is pinned.
    /// </summary>
    private void NoteSetConfig(int open, ref StatementVerdict verdict)
    {
        var name = Argument(open, 0);
        var value = Argument(open, 1);
        var (nameStart, nameLength) = name.GetOffsetAndLength(_tokens.Length);
        var (valueStart, valueLength) = value.GetOffsetAndLength(_tokens.Length);
        if (nameLength != 1 || valueLength != 1 || _tokens[nameStart].Kind != SqlTokenKind.String || _tokens[valueStart].Kind != SqlTokenKind.String
            || Text(nameStart) is not ['\'', .., '\''] || Text(valueStart) is not ['\'', .., '\''])
        {
            verdict.NoteEffect(SessionEffect.Pins);
            return;
        }

        verdict.NoteEffect(SessionEffect.SetConfig);
        if (verdict.Effect == SessionEffect.SetConfig)
        {
            verdict.EffectKey = Text(nameStart)[1..^1].ToString().ToLowerInvariant();
            verdict.EffectSql = $"SELECT pg_catalog.set_config({Text(nameStart)}, {Text(valueStart)}, false)";
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
}
