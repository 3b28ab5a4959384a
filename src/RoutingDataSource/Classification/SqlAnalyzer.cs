using System.Buffers;

namespace RoutingDataSource.Classification;

/// <summary>
/// Classifies one command text: tokenizes it, splits it into statements the way psql does, classifies
/// each from its structure, and combines the verdicts (the strongest kind wins). Pure and linear in the
/// text's length; allocates only the result (and a pooled token buffer).
/// </summary>
internal ref partial struct SqlAnalyzer
{
    // EXPLAIN ANALYZE EXPLAIN ANALYZE ... and PREPARE bodies recurse; nothing legitimate nests deeper.
    private const int MaxNesting = 16;

    private const string NotUnderstood = "statement not understood";

    private readonly string _text;
    private readonly ReadOnlySpan<char> _sql;
    private readonly Span<SqlToken> _tokens;
    private FunctionNameSet? _functions;

    private SqlAnalyzer(string text, Span<SqlToken> tokens)
    {
        _text = text;
        _sql = text;
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
        new(StatementKind.Write, Array.Empty<string>(), false, RouteHint.None, TransactionControlKind.None, false, null, null, null, 0,
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
        bool chainsTransaction = false;
        var accessMode = TransactionAccessMode.None;
        string? preparedName = null;
        StatementKind? preparedKind = null;
        string? executedName = null;
        int statementCount = 0;
        bool endsTransaction = false;
        bool plainDml = true;
        StatementVerdict only = default;

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
                plainDml &= IsPlainDml(start);
                endsTransaction |= verdict.EndsTransaction;
                if (statementCount == 1)
                {
                    text.Set(verdict.Kind, verdict.Reason ?? NotUnderstood);
                    only = verdict;
                }
                else
                {
                    text.Raise(verdict.Kind, verdict.Reason ?? NotUnderstood);
                }

                if (firstTransactionControl == TransactionControlKind.None)
                {
                    firstTransactionControl = verdict.TransactionControl;
                    chainsTransaction = verdict.ChainsTransaction;
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

        var effect = SessionEffect.None;
        if (text.Kind == StatementKind.SessionState)
        {
            effect = statementCount == 1 && lexError == SqlLexError.None && !unbalanced ? only.Effect : SessionEffect.Pins;
            // A function's effect in a statement that also writes is more than the router models.
            if (effect is SessionEffect.None || (only.SawWrite && effect is SessionEffect.AdvisoryLock or SessionEffect.PrimarySessionRead or SessionEffect.SetConfig))
            {
                effect = SessionEffect.Pins;
            }
        }

        else if (text.Kind == StatementKind.Read && statementCount == 1 && only.Effect == SessionEffect.PrimarySessionRead)
        {
            effect = SessionEffect.PrimarySessionRead;
        }

        bool single = statementCount == 1 && effect != SessionEffect.Pins;
        return new SqlClassification(
            text.Kind,
            SqlClassification.FreezeFunctions(_functions?.Names),
            readOnlyStart,
            hint,
            firstTransactionControl,
            chainsTransaction,
            preparedName,
            preparedKind,
            executedName,
            statementCount,
            text.Reason,
            new SessionFacts(effect, single ? only.EffectKey : null, single ? only.EffectSql : null,
                statementCount == 1 ? only.CreatedName : null, statementCount == 1 && only.CreatedUnlogged),
            _text,
            endsTransaction,
            plainDml && statementCount > 0 && lexError == SqlLexError.None && !unbalanced);
    }

    /// <summary>The canonical name of tokens <paramref name="first"/>..<paramref name="last"/>; a function
    /// name joins <see cref="SqlClassification.Functions"/>.</summary>
    private string Canonical(int first, int last, bool isFunction)
    {
        int max = CanonicalNames.MaxLength(_tokens, first, last);
        char[]? rented = null;
        Span<char> buffer = max <= 256 ? stackalloc char[max] : (rented = ArrayPool<char>.Shared.Rent(max));
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
        Span<char> buffer = word.Length <= 256 ? stackalloc char[word.Length] : (rented = ArrayPool<char>.Shared.Rent(word.Length));
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
