using System.Globalization;

namespace RoutingDataSource.Routing;

/// <summary>
/// The opaque text of a causality token: a WAL position, versioned, safe in a cookie or header ("c1." + 16 hex digits).
/// </summary>
internal static class CausalityToken
{
    private const string Prefix = "c1.";

    public static string Format(ulong lsn) => Prefix + lsn.ToString("x16", CultureInfo.InvariantCulture);

    public static ulong Parse(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Length == Prefix.Length + 16 && token.StartsWith(Prefix, StringComparison.Ordinal)
            && ulong.TryParse(token.AsSpan(Prefix.Length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lsn))
        {
            return lsn;
        }
        throw new ArgumentException("Not a causality token produced by RoutingConnection.GetCausalityToken().", nameof(token));
    }
}
