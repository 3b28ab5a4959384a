namespace RoutingDataSource.Resilience;

/// <summary>What an exception from a routed statement says about the server it ran on.</summary>
internal enum FailureKind : byte
{
    /// <summary>An ordinary error (syntax, constraint, permission...): the server is fine; never retried.</summary>
    Other,

    /// <summary>The server is gone or unreachable: refused, reset, closed, timed out, admin shutdown (57P01/02/03), class 08.</summary>
    ServerGone,

    /// <summary>SQLSTATE 25006: the server refused a write because it is (or became) read-only.</summary>
    ReadOnly,
}
