namespace RoutingDataSource.Classification;

/// <summary>
/// The names a text mentions that may be relations, for the two questions a name answers better than the
/// classifier: does a read touch one of the session's temporary tables (which live in one primary session), or an
/// unlogged table (which a standby cannot read)? Deliberately generous: every identifier that is not a reserved
/// keyword or a called function, the last part of a qualified name included, so a column or alias of the same name
/// also matches. Matching too much sends a read to the primary; matching too little would send it to a standby
/// that cannot serve it.
/// </summary>
internal static class RelationNames
{
    private static readonly System.Buffers.SearchValues<char> IdentifierCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$");

    /// <summary>Names compare as PostgreSQL folds them (case-insensitively here: a near miss only sends a read to the primary).</summary>
    public static StringComparer Comparer => StringComparer.OrdinalIgnoreCase;

    /// <summary>An identifier token as a name: a quoted one without its quotes, an unquoted one in lower case.</summary>
    public static string Normalize(ReadOnlySpan<char> token, bool quoted)
    {
        if (!quoted)
            return token.ToString().ToLowerInvariant();
        var unicode = token.Length > 2 && token[0] is 'u' or 'U' && token[1] == '&';
        var body = unicode ? token[3..] : token[1..];
        var close = body.LastIndexOf('"');
        return (close < 0 ? body : body[..close]).ToString().Replace("\"\"", "\"", StringComparison.Ordinal);
    }

    /// <summary>Whether <paramref name="c"/> mentions one of <paramref name="names"/> (see <see cref="SqlClassification.Relations"/>).</summary>
    public static bool MentionsAny(SqlClassification c, IReadOnlySet<string> names)
    {
        foreach (var name in c.Relations)
        {
            if (names.Contains(name))
                return true;
        }
        return false;
    }

    private static bool IntroducesTable(ReadOnlySpan<char> word)
        => word.Equals("on", StringComparison.OrdinalIgnoreCase) || word.Equals("into", StringComparison.OrdinalIgnoreCase)
            || word.Equals("table", StringComparison.OrdinalIgnoreCase) || word.Equals("references", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Every identifier of <paramref name="sql"/> not followed by a parenthesis (unless it follows ON, INTO, TABLE or
    /// REFERENCES) and not a reserved keyword.
    /// </summary>
    public static string[] Mentioned(string sql)
    {
        HashSet<string>? names = null;
        var lexer = new SqlLexer(sql);
        SqlToken pending = default;
        var hasPending = false;
        var pendingNamesTable = false;
        var previousIntroducesTable = false;
        while (lexer.TryRead(out var token))
        {
            // A name in a plain string literal ('testseq' in nextval('testseq'), 'tt'::regclass) names a relation too.
            if (token.Kind == SqlTokenKind.String && token.Length is > 2 and < 130 && sql[token.Start] == '\'' && sql[token.End - 1] == '\'')
            {
                var literal = sql.AsSpan(token.Start + 1, token.Length - 2);
                var dot = literal.LastIndexOf('.');
                var last = dot < 0 ? literal : literal[(dot + 1)..];
                if (last.Length > 0 && !last.ContainsAnyExcept(IdentifierCharacters))
                    (names ??= new HashSet<string>(Comparer)).Add(last.ToString().ToLowerInvariant());
            }

            // A name before "(" is a call, but for a table after ON, INTO, TABLE or REFERENCES (CREATE INDEX i ON t (c)).
            if (hasPending && (token.Kind != SqlTokenKind.LeftParen || pendingNamesTable))
                (names ??= new HashSet<string>(Comparer)).Add(Normalize(sql.AsSpan(pending.Start, pending.Length), pending.Kind == SqlTokenKind.QuotedIdentifier));
            pendingNamesTable = token.Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier && previousIntroducesTable;
            previousIntroducesTable = token.Kind == SqlTokenKind.Word && IntroducesTable(sql.AsSpan(token.Start, token.Length));
            hasPending = token.Kind == SqlTokenKind.QuotedIdentifier
                || (token.Kind == SqlTokenKind.Word && SqlKeywords.Of(sql.AsSpan(token.Start, token.Length)) != KeywordCategory.Reserved);
            pending = token;
        }
        if (hasPending)
            (names ??= new HashSet<string>(Comparer)).Add(Normalize(sql.AsSpan(pending.Start, pending.Length), pending.Kind == SqlTokenKind.QuotedIdentifier));
        return names is null ? [] : [.. names];
    }
}
