namespace RoutingDataSource.Routing;

/// <summary>Where a logical connection is in its transaction.</summary>
internal enum TransactionPhase : byte
{
    /// <summary>Autocommit: every statement is routed on its own.</summary>
    None,

    /// <summary>BEGIN seen (API or SQL) but nothing sent yet: the first statement decides the server.</summary>
    Pending,

    /// <summary>Bound to one server until COMMIT or ROLLBACK.</summary>
    Active,
}
