namespace RoutingDataSource;

/// <summary>
/// A routing hint written by the application in a leading comment:
/// <c>/* route: primary */</c> or <c>/* route: standby */</c>.
/// </summary>
/// <remarks>
/// A hint never changes <see cref="SqlClassification.Kind"/>: a standby hint on a write is still a write.
/// </remarks>
public enum RouteHint
{
    /// <summary>No hint.</summary>
    None,

    /// <summary><c>route: primary</c>: send the statement to the primary even if it only reads.</summary>
    Primary,

    /// <summary><c>route: standby</c>: the application vouches that the statement may run on a standby
    /// (for example because it calls user functions that only read). Ignored for anything but reads.</summary>
    Standby,
}
