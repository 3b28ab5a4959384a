namespace RoutingDataSource.Routing;

/// <summary>The logical connection a <see cref="Lease"/> was lent to, as telemetry sees it.</summary>
internal interface ILeaseOwner
{
    /// <summary>Whether the lease is on the server the current snapshot calls the primary.</summary>
    bool IsOnPrimary(Lease lease);
}
