namespace RoutingDataSource.Classification;

/// <summary>The order in which kinds override each other in a text of several statements (see <see cref="StatementKind"/>).</summary>
internal static class StatementKindStrength
{
    public static int Of(StatementKind kind) => kind switch
    {
        StatementKind.Read => 0,
        StatementKind.TransactionControl => 1,
        StatementKind.Write => 2,
        _ => 3,
    };

    public static bool IsStronger(StatementKind candidate, StatementKind current) => Of(candidate) > Of(current);
}
