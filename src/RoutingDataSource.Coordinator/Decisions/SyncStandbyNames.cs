using System.Globalization;
using System.Text;

namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>How commits wait for standbys.</summary>
internal enum SyncMethod
{
    /// <summary><c>FIRST k (...)</c>, or a plain list (FIRST 1): the first k connected names in list order.</summary>
    First,

    /// <summary><c>ANY k (...)</c>: any k of the names (quorum commit).</summary>
    Any,
}

/// <summary>
/// A parsed <c>synchronous_standby_names</c>: every acknowledged commit was flushed by <see cref="Count"/> standbys
/// among <see cref="Names"/> (whichever method), which is all the candidate choice needs to know.
/// </summary>
internal sealed record SyncStandbyNames(SyncMethod Method, int Count, IReadOnlyList<string> Names)
{
    public bool MatchesAll => Names.Contains("*");

    /// <summary>Whether the standby with <c>application_name</c> <paramref name="name"/> is one of the names (case-insensitive, as PostgreSQL compares them).</summary>
    public bool Includes(string name) => MatchesAll || Names.Contains(name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses the setting; null for an empty one (asynchronous replication) or one that cannot be read.</summary>
    public static SyncStandbyNames? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        var tokens = Tokenize(text);
        if (tokens is null || tokens.Count == 0)
            return null;
        var method = SyncMethod.First;
        var count = 1;
        var i = 0;
        var explicitMethod = false;
        if (tokens[i] is { Quoted: false } m && (m.Text.Equals("ANY", StringComparison.OrdinalIgnoreCase) || m.Text.Equals("FIRST", StringComparison.OrdinalIgnoreCase)))
        {
            // "FIRST" alone is also a legal standby name: a method needs a number after it.
            if (i + 1 < tokens.Count && IsNumber(tokens[i + 1]))
            {
                method = m.Text.Equals("ANY", StringComparison.OrdinalIgnoreCase) ? SyncMethod.Any : SyncMethod.First;
                explicitMethod = true;
                i++;
            }
        }
        var parenthesised = false;
        if (i < tokens.Count && IsNumber(tokens[i]) && i + 1 < tokens.Count && tokens[i + 1].Text == "(" && !tokens[i + 1].Quoted)
        {
            count = int.Parse(tokens[i].Text, CultureInfo.InvariantCulture);
            i += 2;
            parenthesised = true;
        }
        else if (explicitMethod)
        {
            return null;
        }
        var names = new List<string>();
        var expectName = true;
        for (; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (!t.Quoted && t.Text == ")" && parenthesised)
            {
                parenthesised = false;
                if (i != tokens.Count - 1)
                    return null;
                break;
            }
            if (!t.Quoted && t.Text == ",")
            {
                if (expectName)
                    return null;
                expectName = true;
                continue;
            }
            if (!expectName || (!t.Quoted && t.Text is "(" or ")"))
                return null;
            names.Add(t.Text);
            expectName = false;
        }
        if (parenthesised || names.Count == 0 || expectName || count < 1)
            return null;
        return new SyncStandbyNames(method, count, names);
    }

    /// <summary>The setting text, names double-quoted so case and punctuation survive.</summary>
    public string Render()
    {
        var list = string.Join(", ", Names.Select(n => n == "*" ? "*" : "\"" + n.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));
        return string.Create(CultureInfo.InvariantCulture, $"{(Method == SyncMethod.Any ? "ANY" : "FIRST")} {Count} ({list})");
    }

    /// <summary>
    /// The same guarantee once <paramref name="promoted"/> is the primary: the same method over the same names, the
    /// old primary taking the promoted one's place (it is a standby again once rewound), the count capped at how many
    /// of the other names can be standbys now (<paramref name="canBeStandby"/>: not an old primary still to rewind).
    /// Null when none can: a standby that cannot exist is not waited for, so writes stay available (logged).
    /// </summary>
    public SyncStandbyNames? After(string promoted, string? oldPrimary, Func<string, bool> canBeStandby)
    {
        if (MatchesAll)
            return this;
        var rest = Names.Where(n => !string.Equals(n, promoted, StringComparison.OrdinalIgnoreCase)).ToList();
        var available = rest.Count(n => !string.Equals(n, oldPrimary, StringComparison.OrdinalIgnoreCase) && canBeStandby(n));
        if (available == 0)
            return null;
        if (oldPrimary is not null && !rest.Contains(oldPrimary, StringComparer.OrdinalIgnoreCase))
            rest.Add(oldPrimary);
        return this with { Names = rest, Count = Math.Min(Count, available) };
    }

    public override string ToString() => Render();

    private static bool IsNumber(Token t) => !t.Quoted && t.Text.Length > 0 && t.Text.All(char.IsAsciiDigit);

    private readonly record struct Token(string Text, bool Quoted);

    private static List<Token>? Tokenize(string text)
    {
        var tokens = new List<Token>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
                continue;
            if (c is '(' or ')' or ',')
            {
                tokens.Add(new Token(c.ToString(), false));
            }
            else if (c == '"')
            {
                var sb = new StringBuilder();
                for (i++; ; i++)
                {
                    if (i >= text.Length)
                        return null;
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            sb.Append('"');
                            i++;
                            continue;
                        }
                        break;
                    }
                    sb.Append(text[i]);
                }
                tokens.Add(new Token(sb.ToString(), true));
            }
            else
            {
                var start = i;
                while (i + 1 < text.Length && !char.IsWhiteSpace(text[i + 1]) && text[i + 1] is not ('(' or ')' or ',' or '"'))
                    i++;
                tokens.Add(new Token(text[start..(i + 1)], false));
            }
        }
        return tokens;
    }
}
