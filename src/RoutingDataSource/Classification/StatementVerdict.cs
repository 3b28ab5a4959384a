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

    /// <summary>What the statement leaves in the session (see <see cref="SessionEffect"/>).</summary>
    public SessionEffect Effect { get; set; }

    /// <summary>The parameter, prepared statement or temporary object <see cref="Effect"/> is about (canonical spelling).</summary>
    public string? EffectKey { get; set; }

    /// <summary>The statement that replays <see cref="Effect"/> when it is not the statement's own text (<c>set_config</c>).</summary>
    public string? EffectSql { get; set; }

    /// <summary>The object a <c>CREATE TABLE/VIEW/SEQUENCE</c> makes (last part of its name), and whether it is unlogged.</summary>
    public string? CreatedName { get; set; }

    /// <summary><see cref="CreatedName"/> is an unlogged table.</summary>
    public bool CreatedUnlogged { get; set; }

    /// <summary><c>PREPARE TRANSACTION</c>: the session's transaction ends with it, whether it succeeds or fails.</summary>
    public bool EndsTransaction { get; set; }

    /// <summary>Something in the statement writes (kept even when session state outranks the write).</summary>
    public bool SawWrite { get; private set; }

    /// <summary>Remembers a write that a stronger kind already outranks.</summary>
    public void NoteWrite() => SawWrite = true;

    /// <summary>Takes a function-call effect; two different ones in one statement are more than the router models.</summary>
    public void NoteEffect(SessionEffect effect)
    {
        Effect = Effect == SessionEffect.None || Effect == effect ? effect
            : (Effect, effect) is (SessionEffect.AdvisoryLock, SessionEffect.PrimarySessionRead) or (SessionEffect.PrimarySessionRead, SessionEffect.AdvisoryLock)
                ? SessionEffect.AdvisoryLock
                : SessionEffect.Pins;
    }

    /// <summary>True when <paramref name="kind"/> would override the current kind.</summary>
    public readonly bool WouldRaise(StatementKind kind) => StatementKindStrength.IsStronger(kind, Kind);

    /// <summary>Takes <paramref name="kind"/> and its reason when it is stronger than the current kind.</summary>
    public void Raise(StatementKind kind, string reason)
    {
        SawWrite |= kind == StatementKind.Write;
        if (StatementKindStrength.IsStronger(kind, Kind))
        {
            Kind = kind;
            Reason = reason;
        }
    }

    /// <summary>Replaces the kind and the reason, whatever they were.</summary>
    public void Set(StatementKind kind, string reason)
    {
        SawWrite |= kind == StatementKind.Write;
        Kind = kind;
        Reason = reason;
    }
}
