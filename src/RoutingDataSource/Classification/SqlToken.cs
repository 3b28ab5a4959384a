using System.Runtime.InteropServices;

namespace RoutingDataSource.Classification;

/// <summary>
/// One token: a slice of the SQL text, never a copied string. <see cref="Partner"/> links a
/// parenthesis to its match once the whole text is tokenized (-1 when unmatched).
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct SqlToken
{
    public SqlToken(SqlTokenKind kind, int start, int length)
    {
        Kind = kind;
        Start = start;
        Length = length;
        Partner = -1;
    }

    public SqlTokenKind Kind { get; }

    public int Start { get; }

    public int Length { get; }

    public int End => Start + Length;

    /// <summary>For a parenthesis: the index of the matching one, or -1.</summary>
    public int Partner { get; set; }

    /// <summary>Set on the name of a WITH query (a CTE), which is followed by a column list, not a call.</summary>
    public bool IsCteName { get; set; }

    /// <summary>Set on the first token of the main statement of a WITH clause, where a data-modifying statement may stand.</summary>
    public bool IsStatementStart { get; set; }
}
