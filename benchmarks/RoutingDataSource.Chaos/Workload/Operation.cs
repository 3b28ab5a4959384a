namespace RoutingDataSource.Chaos.Workload;

/// <summary>What an operation of the workload does.</summary>
internal enum OperationKind
{
    /// <summary>A bank transfer in <c>ds.ExecuteAsync</c>: two UPDATEs and a ledger INSERT.</summary>
    Transfer,

    /// <summary>A plain INSERT, one statement.</summary>
    Insert,

    /// <summary><c>INSERT ... RETURNING</c> read through a data reader.</summary>
    InsertReturning,

    /// <summary><c>SELECT sum(balance)</c> outside a transaction.</summary>
    Read,
}

/// <summary>How an operation ended, as its caller saw it.</summary>
internal enum Outcome
{
    /// <summary>Returned normally: a write is acknowledged, a read returned a value.</summary>
    Acknowledged,

    /// <summary>Failed with a <see cref="RoutingException"/>.</summary>
    RoutingError,

    /// <summary>Failed with any other exception type.</summary>
    RawError,

    /// <summary>Still running when the soak ended and cancelled by it: neither acknowledged nor failed.</summary>
    Cancelled,
}

/// <summary>
/// One operation and its outcome (times in seconds since the soak started). <see cref="Misuse"/> is the first of
/// <see cref="Cluster.LogFile.ConnectionMisusePatterns"/> found in its exception, with inner exceptions and stack.
/// </summary>
internal sealed record Operation(
    OperationKind Kind,
    long Key,
    int Worker,
    double Start,
    double End,
    Outcome Outcome,
    RoutingFailure? Failure = null,
    bool MayHaveCommitted = false,
    string? ErrorType = null,
    string? Error = null,
    int Attempts = 1,
    long? Total = null,
    string? Misuse = null)
{
    public bool IsWrite => Kind != OperationKind.Read;

    /// <summary>"ConnectionLost (may have committed)", "RetriesExhausted", or the raw exception's type name.</summary>
    public string ErrorLabel => Outcome switch
    {
        Outcome.RoutingError => MayHaveCommitted ? $"{Failure} (may have committed)" : $"{Failure}",
        Outcome.RawError => ErrorType ?? "?",
        Outcome.Cancelled => "cancelled at the end",
        _ => Total is { } t && t != Bank.Total ? "wrong total" : "",
    };
}
