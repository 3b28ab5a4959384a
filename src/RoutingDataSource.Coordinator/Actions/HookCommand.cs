using System.Text;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Actions;

/// <summary>
/// A hook command line split into a program and its arguments the way a POSIX shell splits words (spaces, '...',
/// "...", backslash escapes), but run without a shell, so a placeholder's value is always one argument and never code.
/// </summary>
internal sealed class HookCommand
{
    public static readonly string[] PlaceholderNames = ["old_primary", "old_host", "old_port", "new_primary", "new_host", "new_port", "timeline"];

    private HookCommand(IReadOnlyList<string> words) => Words = words;

    public IReadOnlyList<string> Words { get; }

    public static bool TryParse(string text, out HookCommand? command, out string? error)
    {
        command = null;
        error = null;
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(current.ToString());
                current.Clear();
                inWord = false;
                continue;
            }
            inWord = true;
            if (c == '\'')
            {
                var end = text.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    error = "unclosed single quote";
                    return false;
                }
                current.Append(text, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                var closed = false;
                for (i++; i < text.Length; i++)
                {
                    if (text[i] == '"')
                    {
                        closed = true;
                        break;
                    }
                    if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\')
                        i++;
                    current.Append(text[i]);
                }
                if (!closed)
                {
                    error = "unclosed double quote";
                    return false;
                }
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                current.Append(text[++i]);
            }
            else
            {
                current.Append(c);
            }
        }
        if (inWord)
            words.Add(current.ToString());
        if (words.Count == 0)
        {
            error = "empty command";
            return false;
        }
        foreach (var w in words)
        {
            foreach (var p in Placeholders.Find(w, out _))
            {
                if (!PlaceholderNames.Contains(p, StringComparer.Ordinal))
                {
                    error = $"unknown placeholder {{{p}}} (known: {string.Join(", ", PlaceholderNames.Select(n => "{" + n + "}"))})";
                    return false;
                }
            }
        }
        command = new HookCommand(words);
        return true;
    }

    /// <summary>The program and arguments with the placeholders filled in.</summary>
    public IReadOnlyList<string> Render(IReadOnlyDictionary<string, string> values) =>
        Words.Select(w => Placeholders.Substitute(w, values)).ToArray();
}
