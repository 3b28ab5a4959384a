using System.Globalization;

namespace RoutingDataSource.Classification;

/// <summary>
/// Writes names the way PostgreSQL resolves them: an unquoted identifier folds to lower case (ASCII
/// only, as in a UTF-8 database); a quoted one keeps its case and is written back quoted unless it is a
/// plain lower-case identifier (the rule of <c>quote_ident</c>); qualified names keep their dots.
/// </summary>
internal static class CanonicalNames
{
    /// <summary>An upper bound of the length <see cref="Write"/> needs for tokens <paramref name="first"/>..<paramref name="last"/>.</summary>
    public static int MaxLength(ReadOnlySpan<SqlToken> tokens, int first, int last) =>
        tokens[last].End - tokens[first].Start + 2;

    /// <summary>
    /// Writes the name made of tokens <paramref name="first"/>..<paramref name="last"/> (identifiers
    /// separated by dots) into <paramref name="destination"/>, which holds at least <see cref="MaxLength"/>.
    /// </summary>
    /// <returns>The number of characters written.</returns>
    public static int Write(ReadOnlySpan<char> sql, ReadOnlySpan<SqlToken> tokens, int first, int last, Span<char> destination)
    {
        int length = 0;
        for (int i = first; i <= last; i++)
        {
            var token = tokens[i];
            ReadOnlySpan<char> text = sql.Slice(token.Start, token.Length);
            switch (token.Kind)
            {
                case SqlTokenKind.Dot:
                    destination[length++] = '.';
                    break;
                case SqlTokenKind.QuotedIdentifier:
                    length += WriteQuoted(text, destination[length..]);
                    break;
                default:
                    length += WriteFolded(text, destination[length..]);
                    break;
            }
        }

        return length;
    }

    private static int WriteFolded(ReadOnlySpan<char> word, Span<char> destination)
    {
        for (int i = 0; i < word.Length; i++)
        {
            char c = word[i];
            destination[i] = (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;
        }

        return word.Length;
    }

    private static int WriteQuoted(ReadOnlySpan<char> token, Span<char> destination)
    {
        bool unicode = token.Length > 2 && token[0] is 'u' or 'U' && token[1] == '&';
        ReadOnlySpan<char> body = unicode ? token[2..] : token;
        int close = ClosingQuote(body);
        if (close < 1)
        {
            token.CopyTo(destination);
            return token.Length;
        }

        // Unescape into the tail of the destination first, then decide whether quotes are needed.
        ReadOnlySpan<char> quoted = body[1..close];
        Span<char> scratch = destination[1..];
        int length = 0;
        for (int i = 0; i < quoted.Length; i++)
        {
            scratch[length++] = quoted[i];
            if (quoted[i] == '"')
            {
                i++;
            }
        }

        if (unicode && !TryDecodeUnicodeEscapes(scratch[..length], EscapeCharacter(token), out length))
        {
            // PostgreSQL would reject the escape: keep the text as written; it matches no function.
            token.CopyTo(destination);
            return token.Length;
        }

        ReadOnlySpan<char> name = scratch[..length];
        if (IsPlainIdentifier(name))
        {
            name.CopyTo(destination);
            return length;
        }

        int quotes = name.Count('"');
        if (length + quotes + 2 > destination.Length)
        {
            token.CopyTo(destination);
            return token.Length;
        }

        // Re-escape right to left so the copy never overwrites what it still has to read.
        int end = length + quotes + 1;
        destination[end] = '"';
        int write = end - 1;
        for (int read = length - 1; read >= 0; read--)
        {
            char c = scratch[read];
            destination[write--] = c;
            if (c == '"')
            {
                destination[write--] = '"';
            }
        }

        destination[0] = '"';
        return end + 1;
    }

    private static int ClosingQuote(ReadOnlySpan<char> body)
    {
        for (int i = 1; i < body.Length; i++)
        {
            if (body[i] != '"')
            {
                continue;
            }

            if (i + 1 < body.Length && body[i + 1] == '"')
            {
                i++;
                continue;
            }

            return i;
        }

        return -1;
    }

    private static char EscapeCharacter(ReadOnlySpan<char> token)
    {
        // A folded "UESCAPE 'c'" clause ends the token with the three characters 'c'.
        return token.Length >= 3 && token[^1] == '\'' && token[^3] == '\'' ? token[^2] : '\\';
    }

    private static bool TryDecodeUnicodeEscapes(Span<char> text, char escape, out int length)
    {
        length = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c != escape)
            {
                text[length++] = c;
                continue;
            }

            if (i + 1 < text.Length && text[i + 1] == escape)
            {
                text[length++] = escape;
                i++;
                continue;
            }

            int digits = i + 1 < text.Length && text[i + 1] == '+' ? 6 : 4;
            int start = digits == 6 ? i + 2 : i + 1;
            if (start + digits > text.Length ||
                !int.TryParse(text.Slice(start, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int codePoint) ||
                codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF))
            {
                return false;
            }

            if (codePoint >= 0x10000)
            {
                // Two UTF-16 units where the escape took at least seven characters: always fits.
                codePoint -= 0x10000;
                text[length++] = (char)(0xD800 + (codePoint >> 10));
                text[length++] = (char)(0xDC00 + (codePoint & 0x3FF));
            }
            else
            {
                text[length++] = (char)codePoint;
            }

            i = start + digits - 1;
        }

        return true;
    }

    private static bool IsPlainIdentifier(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !(name[0] == '_' || (uint)(name[0] - 'a') <= 'z' - 'a'))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(c == '_' || (uint)(c - 'a') <= 'z' - 'a' || (uint)(c - '0') <= 9))
            {
                return false;
            }
        }

        return SqlKeywords.Of(name) is KeywordCategory.None or KeywordCategory.Unreserved;
    }
}
