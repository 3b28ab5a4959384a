using System.Globalization;

namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>WAL positions written as PostgreSQL writes them (<c>0/3000060</c>).</summary>
internal static class Lsn
{
    public static string Format(ulong? lsn) => lsn is { } v
        ? string.Create(CultureInfo.InvariantCulture, $"{v >> 32:X}/{v & 0xFFFFFFFF:X}")
        : "-";
}
