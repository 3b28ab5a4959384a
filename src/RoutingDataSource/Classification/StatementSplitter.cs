using System.Runtime.InteropServices;

namespace RoutingDataSource.Classification;

/// <summary>
/// Decides which semicolons end a statement, as psql does (psqlscan.l): only outside parentheses, and
/// not inside the <c>BEGIN ATOMIC ... END</c> body of <c>CREATE [OR REPLACE] FUNCTION | PROCEDURE</c>,
/// whose inner statements end with semicolons too.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct StatementSplitter
{
    private int _parenDepth;
    private int _beginDepth;
    private int _wordCount;

    // The first letters of the first four words when they are CREATE, OR, REPLACE, FUNCTION, PROCEDURE.
    private char _word0;
    private char _word1;
    private char _word2;
    private char _word3;

    /// <summary>Feeds the next token; true when it is a semicolon that ends the statement.</summary>
    public bool EndsStatement(ReadOnlySpan<char> sql, SqlToken token)
    {
        switch (token.Kind)
        {
            case SqlTokenKind.LeftParen:
                _parenDepth++;
                return false;
            case SqlTokenKind.RightParen:
                if (_parenDepth > 0)
                {
                    _parenDepth--;
                }

                return false;
            case SqlTokenKind.Semicolon:
                return _parenDepth == 0 && _beginDepth == 0;
            case SqlTokenKind.Word:
                NoteWord(sql.Slice(token.Start, token.Length));
                return false;
            default:
                return false;
        }
    }

    private void NoteWord(ReadOnlySpan<char> word)
    {
        if (_wordCount < 4)
        {
            // The length picks the one keyword worth comparing.
            char letter = word.Length switch
            {
                6 when Eq(word, "create") => 'c',
                8 when Eq(word, "function") => 'f',
                9 when Eq(word, "procedure") => 'p',
                2 when Eq(word, "or") => 'o',
                7 when Eq(word, "replace") => 'r',
                _ => '\0',
            };
            switch (_wordCount)
            {
                case 0:
                    _word0 = letter;
                    break;
                case 1:
                    _word1 = letter;
                    break;
                case 2:
                    _word2 = letter;
                    break;
                default:
                    _word3 = letter;
                    break;
            }
        }

        _wordCount++;
        bool routineDefinition = _word0 == 'c' &&
            (_word1 is 'f' or 'p' || (_word1 == 'o' && _word2 == 'r' && _word3 is 'f' or 'p'));
        if (!routineDefinition || _parenDepth != 0)
        {
            return;
        }

        if (Eq(word, "begin"))
        {
            _beginDepth++;
        }
        else if (Eq(word, "case"))
        {
            // CASE ... END only matters inside a BEGIN ... END body.
            if (_beginDepth >= 1)
            {
                _beginDepth++;
            }
        }
        else if (Eq(word, "end") && _beginDepth > 0)
        {
            _beginDepth--;
        }
    }

    private static bool Eq(ReadOnlySpan<char> word, string keyword) =>
        word.Equals(keyword, StringComparison.OrdinalIgnoreCase);
}
