namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>How a requested operation ended; the HTTP API maps it to a status code.</summary>
internal enum OutcomeKind
{
    Ok,
    BadRequest,
    NotFound,
    Conflict,
    Failed,
}

/// <summary>The result of a manual operation: a kind, an error message, or a value.</summary>
internal sealed record Outcome(OutcomeKind Kind, string? Error = null, object? Value = null)
{
    public static Outcome Ok(object value) => new(OutcomeKind.Ok, null, value);

    public static Outcome Bad(string error) => new(OutcomeKind.BadRequest, error);

    public static Outcome NotFound(string error) => new(OutcomeKind.NotFound, error);

    public static Outcome Conflict(string error) => new(OutcomeKind.Conflict, error);

    public static Outcome Failed(string error) => new(OutcomeKind.Failed, error);
}
