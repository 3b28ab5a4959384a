namespace RoutingDataSource.Classification;

/// <summary>
/// PostgreSQL's lexical rules (src/backend/parser/scan.l) over a span, producing tokens that are
/// slices of the text: no string is allocated. It never throws; what PostgreSQL would reject is
/// reported through <see cref="Error"/> so the classifier can refuse to trust the text.
/// </summary>
/// <remarks>
/// Assumes <c>standard_conforming_strings = on</c> (the default since PostgreSQL 9.1): in a plain
/// <c>'...'</c> literal a backslash is an ordinary character. Also reads the routing hint of the
/// comments that come before the first token.
/// </remarks>
internal ref struct SqlLexer
{
    private readonly ReadOnlySpan<char> _sql;
    private int _position;
    private bool _sawToken;
    private bool _hintPrimary;
    private bool _hintStandby;

    public SqlLexer(ReadOnlySpan<char> sql)
    {
        _sql = sql;
    }

    /// <summary>The first lexical error met, if any.</summary>
    public SqlLexError Error { get; private set; }

    /// <summary>The hint found in the leading comments; primary wins over standby.</summary>
    public readonly RouteHint Hint =>
        _hintPrimary ? RouteHint.Primary : _hintStandby ? RouteHint.Standby : RouteHint.None;

    public bool TryRead(out SqlToken token)
    {
        // Hot path in locals: whitespace, then plain words, which are most tokens.
        ReadOnlySpan<char> sql = _sql;
        int start = SkipWhitespace(sql, _position);
        if ((uint)start < (uint)sql.Length && sql[start] is '-' or '/')
        {
            _position = start;
            SkipWhitespaceAndComments();
            start = _position;
        }

        if ((uint)start >= (uint)sql.Length)
        {
            _position = sql.Length;
            token = default;
            return false;
        }

        _sawToken = true;
        char c = sql[start];
        if (c < 0x80 && (AsciiClasses[c] & IdentifierStartClass) != 0 && !StartsPrefixedLiteral(sql, start))
        {
            int end = start + 1;
            while ((uint)end < (uint)sql.Length && IsIdentifierChar(sql[end]))
            {
                end++;
            }

            _position = end;
            token = new SqlToken(SqlTokenKind.Word, start, end - start);
            return true;
        }

        _position = start;
        SqlTokenKind kind;
        switch (c)
        {
            case '(':
                kind = SqlTokenKind.LeftParen;
                _position++;
                break;
            case ')':
                kind = SqlTokenKind.RightParen;
                _position++;
                break;
            case '[':
                kind = SqlTokenKind.LeftBracket;
                _position++;
                break;
            case ']':
                kind = SqlTokenKind.RightBracket;
                _position++;
                break;
            case ',':
                kind = SqlTokenKind.Comma;
                _position++;
                break;
            case ';':
                kind = SqlTokenKind.Semicolon;
                _position++;
                break;
            case '.':
                if (IsDigit(Peek(1)))
                {
                    kind = SqlTokenKind.Number;
                    ReadNumber();
                }
                else
                {
                    kind = SqlTokenKind.Dot;
                    _position++;
                }

                break;
            case ':':
                kind = ReadColon();
                break;
            case '\'':
                kind = SqlTokenKind.String;
                _position++;
                ReadQuoted('\'', backslashEscapes: false);
                break;
            case '"':
                kind = SqlTokenKind.QuotedIdentifier;
                _position++;
                ReadQuotedIdentifier();
                break;
            case '$':
                kind = ReadDollar();
                break;
            case '@':
                if (IsIdentifierStart(Peek(1)))
                {
                    // Npgsql's named placeholder; PostgreSQL alone would read a prefix operator.
                    kind = SqlTokenKind.Parameter;
                    _position++;
                    SkipIdentifierChars();
                }
                else
                {
                    kind = SqlTokenKind.Operator;
                    ReadOperator();
                }

                break;
            default:
                if (IsDigit(c))
                {
                    kind = SqlTokenKind.Number;
                    ReadNumber();
                }
                else if (IsIdentifierStart(c))
                {
                    kind = ReadWordOrPrefixedLiteral(c);
                }
                else if (IsOperatorChar(c))
                {
                    kind = SqlTokenKind.Operator;
                    ReadOperator();
                }
                else
                {
                    // A character PostgreSQL rejects (backslash, braces, control characters): the
                    // server will fail the statement, so any routing is harmless.
                    kind = SqlTokenKind.Operator;
                    _position++;
                }

                break;
        }

        token = new SqlToken(kind, start, _position - start);
        return true;
    }

    /// <summary>E'..', B'..', X'..', N'..', U&amp;'..' and U&amp;"..." start with what would otherwise be a word.</summary>
    private static bool StartsPrefixedLiteral(ReadOnlySpan<char> sql, int start)
    {
        int next = start + 1;
        if ((uint)next >= (uint)sql.Length)
        {
            return false;
        }

        char c = (char)(sql[start] | 0x20);
        return sql[next] == '\''
            ? c is 'e' or 'b' or 'x' or 'n'
            : c == 'u' && sql[next] == '&';
    }

    internal static bool IsIdentifierStart(char c) =>
        c >= 0x80 || (AsciiClasses[c] & IdentifierStartClass) != 0;

    internal static bool IsIdentifierChar(char c) =>
        c >= 0x80 || (AsciiClasses[c] & IdentifierClass) != 0;

    private const byte IdentifierStartClass = 1;
    private const byte IdentifierClass = 2;

    // Per ASCII character: 1 = may start an identifier (letters, '_'), 2 = may continue one (also digits, '$').
    // Every character from 0x80 up is an identifier character, as in scan.l (ident_start / ident_cont).
    private static ReadOnlySpan<byte> AsciiClasses =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
        0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
        0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    ];

    private static bool IsDigit(char c) => (uint)(c - '0') <= 9;

    private static bool IsOperatorChar(char c) => c switch
    {
        '+' or '-' or '*' or '/' or '<' or '>' or '=' or '~' or '!' or '@' or '#' or '%' or '^' or '&' or '|' or '`' or '?' => true,
        _ => false,
    };

    private static bool IsWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    private readonly char Peek(int offset)
    {
        int index = _position + offset;
        return (uint)index < (uint)_sql.Length ? _sql[index] : '\0';
    }

    private void SkipWhitespaceAndComments()
    {
        while (_position < _sql.Length)
        {
            char c = _sql[_position];
            if (IsWhitespace(c))
            {
                _position = SkipWhitespace(_sql, _position + 1);
            }
            else if (c == '-' && Peek(1) == '-')
            {
                int start = _position + 2;
                int end = _sql[start..].IndexOfAny('\n', '\r');
                end = end < 0 ? _sql.Length : start + end;
                NoteComment(_sql[start..end]);
                _position = end;
            }
            else if (c == '/' && Peek(1) == '*')
            {
                SkipBlockComment();
            }
            else
            {
                return;
            }
        }
    }

    private void SkipBlockComment()
    {
        // Block comments nest in PostgreSQL, unlike in the SQL standard.
        int start = _position + 2;
        int depth = 1;
        int i = start;
        while (i < _sql.Length)
        {
            int next = _sql[i..].IndexOfAny('*', '/');
            if (next < 0)
            {
                break;
            }

            i += next;
            if (_sql[i] == '*' && i + 1 < _sql.Length && _sql[i + 1] == '/')
            {
                i += 2;
                if (--depth == 0)
                {
                    NoteComment(_sql[start..(i - 2)]);
                    _position = i;
                    return;
                }
            }
            else if (_sql[i] == '/' && i + 1 < _sql.Length && _sql[i + 1] == '*')
            {
                i += 2;
                depth++;
            }
            else
            {
                i++;
            }
        }

        SetError(SqlLexError.UnterminatedComment);
        NoteComment(_sql[start..]);
        _position = _sql.Length;
    }

    private void NoteComment(ReadOnlySpan<char> comment)
    {
        if (_sawToken)
        {
            return;
        }

        switch (RouteHints.Find(comment))
        {
            case RouteHint.Primary:
                _hintPrimary = true;
                break;
            case RouteHint.Standby:
                _hintStandby = true;
                break;
        }
    }

    private SqlTokenKind ReadColon()
    {
        char next = Peek(1);
        if (next == ':')
        {
            _position += 2;
            return SqlTokenKind.DoubleColon;
        }

        if (next == '=')
        {
            _position += 2;
            return SqlTokenKind.Operator;
        }

        if (IsIdentifierStart(next))
        {
            // Npgsql's :name placeholder (and psql's :variable, which psql would have substituted).
            _position++;
            SkipIdentifierChars();
            return SqlTokenKind.Parameter;
        }

        _position++;
        return SqlTokenKind.Colon;
    }

    private SqlTokenKind ReadDollar()
    {
        if (IsDigit(Peek(1)))
        {
            _position++;
            while (_position < _sql.Length && IsDigit(_sql[_position]))
            {
                _position++;
            }

            return SqlTokenKind.Parameter;
        }

        // $tag$ where the tag is empty or an identifier without '$' (dolq_start dolq_cont* in scan.l).
        int tagEnd = _position + 1;
        if (tagEnd < _sql.Length && IsIdentifierStart(_sql[tagEnd]))
        {
            tagEnd++;
            while (tagEnd < _sql.Length && IsIdentifierChar(_sql[tagEnd]) && _sql[tagEnd] != '$')
            {
                tagEnd++;
            }
        }

        if (tagEnd >= _sql.Length || _sql[tagEnd] != '$')
        {
            // scan.l's dolqfailed: a lone '$' that the grammar will reject.
            _position++;
            return SqlTokenKind.Operator;
        }

        ReadOnlySpan<char> tag = _sql[_position..(tagEnd + 1)];
        int bodyStart = tagEnd + 1;
        int close = _sql[bodyStart..].IndexOf(tag, StringComparison.Ordinal);
        if (close < 0)
        {
            SetError(SqlLexError.UnterminatedDollarQuote);
            _position = _sql.Length;
        }
        else
        {
            _position = bodyStart + close + tag.Length;
        }

        return SqlTokenKind.String;
    }

    private SqlTokenKind ReadWordOrPrefixedLiteral(char c)
    {
        char next = Peek(1);
        if (next == '\'')
        {
            switch (c)
            {
                case 'e' or 'E':
                    _position += 2;
                    ReadQuoted('\'', backslashEscapes: true);
                    return SqlTokenKind.String;
                case 'b' or 'B' or 'x' or 'X' or 'n' or 'N':
                    _position += 2;
                    ReadQuoted('\'', backslashEscapes: false);
                    return SqlTokenKind.String;
            }
        }
        else if (next == '&' && (c is 'u' or 'U'))
        {
            char quote = Peek(2);
            if (quote == '\'')
            {
                _position += 3;
                ReadQuoted('\'', backslashEscapes: false);
                SkipUescapeClause();
                return SqlTokenKind.String;
            }

            if (quote == '"')
            {
                _position += 3;
                ReadQuotedIdentifier();
                SkipUescapeClause();
                return SqlTokenKind.QuotedIdentifier;
            }
        }

        SkipIdentifierChars();
        return SqlTokenKind.Word;
    }

    /// <summary>
    /// Folds <c>UESCAPE 'c'</c> into the preceding U&amp; token, as PostgreSQL's lexer filter does, so
    /// that <c>U&amp;"..." UESCAPE '!' (</c> still reads as a call.
    /// </summary>
    private void SkipUescapeClause()
    {
        int saved = _position;
        bool sawToken = _sawToken;
        SkipWhitespaceAndComments();
        int wordStart = _position;
        SkipIdentifierChars();
        if (_sql[wordStart.._position].Equals("uescape", StringComparison.OrdinalIgnoreCase))
        {
            SkipWhitespaceAndComments();
            if (_position < _sql.Length && _sql[_position] == '\'')
            {
                _position++;
                ReadQuoted('\'', backslashEscapes: false);
                return;
            }
        }

        _position = saved;
        _sawToken = sawToken;
    }

    private void SkipIdentifierChars()
    {
        // Locals, not fields: the loop then runs in registers.
        ReadOnlySpan<char> sql = _sql;
        int i = _position;
        while ((uint)i < (uint)sql.Length && IsIdentifierChar(sql[i]))
        {
            i++;
        }

        _position = i;
    }

    private static int SkipWhitespace(ReadOnlySpan<char> sql, int i)
    {
        while ((uint)i < (uint)sql.Length && IsWhitespace(sql[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>Reads up to and including the closing quote; the opening quote is already consumed.</summary>
    private void ReadQuoted(char quote, bool backslashEscapes)
    {
        int i = _position;
        while (i < _sql.Length)
        {
            int next = backslashEscapes ? _sql[i..].IndexOfAny(quote, '\\') : _sql[i..].IndexOf(quote);
            if (next < 0)
            {
                break;
            }

            i += next;
            if (_sql[i] == '\\')
            {
                i += 2;
                continue;
            }

            if (i + 1 < _sql.Length && _sql[i + 1] == quote)
            {
                i += 2;
                continue;
            }

            _position = i + 1;
            return;
        }

        SetError(SqlLexError.UnterminatedString);
        _position = _sql.Length;
    }

    private void ReadQuotedIdentifier()
    {
        int contentStart = _position;
        int i = _position;
        while (i < _sql.Length)
        {
            int next = _sql[i..].IndexOf('"');
            if (next < 0)
            {
                break;
            }

            i += next;
            if (i + 1 < _sql.Length && _sql[i + 1] == '"')
            {
                i += 2;
                continue;
            }

            if (i == contentStart)
            {
                SetError(SqlLexError.EmptyQuotedIdentifier);
            }

            _position = i + 1;
            return;
        }

        SetError(SqlLexError.UnterminatedQuotedIdentifier);
        _position = _sql.Length;
    }

    private void ReadNumber()
    {
        int i = _position;
        while (i < _sql.Length && IsDigit(_sql[i]))
        {
            i++;
        }

        // "1..10" is an integer followed by "..", not a decimal.
        if (i < _sql.Length && _sql[i] == '.' && !(i + 1 < _sql.Length && _sql[i + 1] == '.'))
        {
            i++;
            while (i < _sql.Length && IsDigit(_sql[i]))
            {
                i++;
            }
        }

        if (i < _sql.Length && (_sql[i] | 0x20) == 'e')
        {
            int exponent = i + 1;
            if (exponent < _sql.Length && _sql[exponent] is '+' or '-')
            {
                exponent++;
            }

            if (exponent < _sql.Length && IsDigit(_sql[exponent]))
            {
                i = exponent;
                while (i < _sql.Length && IsDigit(_sql[i]))
                {
                    i++;
                }
            }
        }

        _position = i;
    }

    private void ReadOperator()
    {
        int i = _position + 1;
        while (i < _sql.Length && IsOperatorChar(_sql[i]))
        {
            // A comment start ends the operator, as in scan.l.
            if ((_sql[i] == '-' && i + 1 < _sql.Length && _sql[i + 1] == '-') ||
                (_sql[i] == '/' && i + 1 < _sql.Length && _sql[i + 1] == '*'))
            {
                break;
            }

            i++;
        }

        _position = i;
    }

    private void SetError(SqlLexError error)
    {
        if (Error == SqlLexError.None)
        {
            Error = error;
        }
    }
}
