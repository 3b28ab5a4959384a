using System.Globalization;

namespace RoutingDataSource;

/// <summary>
/// Durations in configuration: <c>00:00:01.5</c> (TimeSpan), or <c>1.5s</c>, <c>500ms</c>, <c>2m</c>. One format for the
/// library's settings and the coordinator's (which reads it through InternalsVisibleTo).
/// </summary>
internal static class Durations
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        text = text.Trim();
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value))
            return true;
        (string Suffix, double Scale)[] units = [("ms", 1), ("s", 1000), ("m", 60_000)];
        foreach (var (suffix, scale) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                && double.IsFinite(n))
            {
                value = TimeSpan.FromMilliseconds(n * scale);
                return true;
            }
        }
        return false;
    }
}
