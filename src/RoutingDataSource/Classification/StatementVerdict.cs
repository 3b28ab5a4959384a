using System.Runtime.InteropServices;

namespace RoutingDataSource.Classification;

/// <summary>What the analyzer concluded about one statement (or one part of it) before texts are combined.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct StatementVerdict
{
    public StatementVerdict(StatementKind kind, string reason)
    {
        Kind = kind;
        Reason = reason;
    }

    public StatementKind Kind { get; private set; }

    public string? Reason { get; private set; }

    public TransactionControlKind TransactionControl { get; set; }

    public TransactionAccessMode AccessMode { get; set; }

    public bool ChainsTransaction { get; set; }

    public string? PreparedName { get; set; }

    public StatementKind? PreparedKind { get; set; }

    public string? ExecutedName { get; set; }

    /// <summary>True when <paramref name="kind"/> would override the current kind.</summary>
    public readonly bool WouldRaise(StatementKind kind) => StatementKindStrength.IsStronger(kind, Kind);

    /// <summary>Takes <paramref name="kind"/> and its reason when it is stronger than the current kind.</summary>
    public void Raise(StatementKind kind, string reason)
    {
        if (StatementKindStrength.IsStronger(kind, Kind))
        {
            Kind = kind;
            Reason = reason;
        }
    }

    /// <summary>Replaces the kind and the reason, whatever they were.</summary>
    public void Set(StatementKind kind, string reason)
    {
        Kind = kind;
        Reason = reason;
    }
}
