namespace RoutingDataSource.Topology;

/// <summary>
/// The monitor took the backend out of service (down, fenced, or no longer the primary) while an operation waited on
/// it: the operation was abandoned, not cancelled, and its physical connection is never used again. The server is
/// treated as gone (a read is re-run elsewhere; a write may have committed).
/// </summary>
internal sealed class BackendOutOfServiceException(string message) : OperationCanceledException(message);
