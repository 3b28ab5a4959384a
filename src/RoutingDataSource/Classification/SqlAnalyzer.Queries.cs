namespace RoutingDataSource.Classification;

/// <summary>Queries and DML: data-modifying statements at any depth, locking clauses, SELECT INTO, WITH lists.</summary>
internal ref partial struct SqlAnalyzer
{
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
            int name = Is(next + 1, "table") ? next + 2 : next + 1;
            bool named = IsName(name, _tokens.Length) && SkipQualifiedName(name, _tokens.Length) == name;
            verdict.NoteEffect(named ? SessionEffect.CreateTemp : SessionEffect.Pins);
            if (named && verdict.Effect == SessionEffect.CreateTemp)
            {
                verdict.EffectKey = RelationNames.Normalize(Text(name), _tokens[name].Kind == SqlTokenKind.QuotedIdentifier);
            }

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

        if (IsTempSchema(next))
        {
            verdict.NoteEffect(SessionEffect.Pins);
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
}
