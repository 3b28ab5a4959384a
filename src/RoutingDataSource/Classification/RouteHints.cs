namespace RoutingDataSource.Classification;

/// <summary>Reads <c>route: primary</c> / <c>route: standby</c> inside a comment's text.</summary>
internal static class RouteHints
{
    /// <summary>The hint written in the comment; primary wins when both are written.</summary>
    public static RouteHint Find(ReadOnlySpan<char> comment)
    {
        var found = RouteHint.None;
        int offset = 0;
        while (offset < comment.Length)
        {
            int at = comment[offset..].IndexOf("route", StringComparison.OrdinalIgnoreCase);
            if (at < 0)
            {
                break;
            }

            at += offset;
            offset = at + 5;

            // "reroute:" or "my_route:" is not the hint.
            if (at > 0 && SqlLexer.IsIdentifierChar(comment[at - 1]))
            {
                continue;
            }

            int i = SkipSpaces(comment, offset);
            if (i >= comment.Length || comment[i] != ':')
            {
                continue;
            }

            i = SkipSpaces(comment, i + 1);
            ReadOnlySpan<char> rest = comment[i..];
            if (IsWord(rest, "primary"))
            {
                return RouteHint.Primary;
            }

            if (IsWord(rest, "standby"))
            {
                found = RouteHint.Standby;
            }
        }

        return found;
    }

    private static int SkipSpaces(ReadOnlySpan<char> text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    private static bool IsWord(ReadOnlySpan<char> text, string word) =>
        text.StartsWith(word, StringComparison.OrdinalIgnoreCase) &&
        (text.Length == word.Length || !SqlLexer.IsIdentifierChar(text[word.Length]));
}
