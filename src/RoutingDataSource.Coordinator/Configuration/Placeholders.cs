using System.Text;

namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>The <c>{name}</c> placeholders of connection templates and hook commands.</summary>
internal static class Placeholders
{
    /// <summary>The placeholder names used in <paramref name="text"/>, or an error for an unclosed brace.</summary>
    public static IReadOnlyList<string> Find(string text, out string? error)
    {
        error = null;
        var found = new List<string>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '{')
                continue;
            var end = text.IndexOf('}', i + 1);
            if (end < 0)
            {
                error = $"unclosed '{{' at position {i}";
                return found;
            }
            found.Add(text[(i + 1)..end]);
            i = end;
        }
        return found;
    }

    /// <summary>Replaces every <c>{key}</c> of <paramref name="values"/>; other text is copied as is.</summary>
    public static string Substitute(string text, IReadOnlyDictionary<string, string> values, Func<string, string>? quote = null)
    {
        var result = new StringBuilder(text.Length + 32);
        for (var i = 0; i < text.Length; i++)
        {
            var end = text[i] == '{' ? text.IndexOf('}', i + 1) : -1;
            if (end > i && values.TryGetValue(text[(i + 1)..end], out var value))
            {
                result.Append(quote is null ? value : quote(value));
                i = end;
            }
            else
            {
                result.Append(text[i]);
            }
        }
        return result.ToString();
    }
}
