using System.Globalization;

namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>WAL positions written as PostgreSQL writes them (<c>0/3000060</c>).</summary>
internal static class Lsn
{
    public static string Format(ulong? lsn) => lsn is { } v
        ? string.Create(CultureInfo.InvariantCulture, $"{v >> 32:X}/{v & 0xFFFFFFFF:X}")
        : "-";

    /// <summary>Reads <c>X/Y</c> (hexadecimal halves), as pg_controldata and PostgreSQL print a position.</summary>
    public static bool TryParse(string? text, out ulong lsn)
    {
        lsn = 0;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0
            || !uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high)
            || !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
            return false;
        lsn = ((ulong)high << 32) | low;
        return true;
    }
}
