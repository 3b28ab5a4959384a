namespace RoutingDataSource.Routing;

/// <summary>Why a logical connection holds on to one physical connection between statements.</summary>
internal enum PinReason : byte
{
    /// <summary>Not pinned: each statement rents a physical connection and returns it.</summary>
    None,

    /// <summary>A transaction is running on it; released at COMMIT/ROLLBACK.</summary>
    Transaction,

    /// <summary>Session state (SET, temp table, PREPARE, LISTEN, session lock...) lives on it; released when the logical connection closes.</summary>
    Session,
}
