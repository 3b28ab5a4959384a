namespace RoutingDataSource.Classification;

/// <summary>What a PostgreSQL built-in function does to routing, beyond its volatility.</summary>
internal enum BuiltinFunctionEffect : byte
{
    /// <summary>Nothing special: its volatility in <c>pg_proc</c> decides (non-volatile reads are safe on a standby).</summary>
    None,

    /// <summary>Writes, or fails on a standby, whatever its volatility says (<c>nextval</c>, <c>txid_current</c>).</summary>
    Write,

    /// <summary>Creates or reads state of the session (<c>pg_advisory_lock</c>, <c>currval</c>, <c>setseed</c>).</summary>
    SessionState,

    /// <summary>Volatile in <c>pg_proc</c>, but only reads and runs on a standby (<c>random</c>, <c>pg_sleep</c>).</summary>
    ReadSafe,

    /// <summary>
    /// Decided by its arguments, which the classifier reads: <c>set_config(name, value, is_local)</c>.
    /// In a classification whose kind is
    /// <see cref="StatementKind.Read"/>, the arguments made the call read-safe.
    /// </summary>
    DependsOnArguments,
}
