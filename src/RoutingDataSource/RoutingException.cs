using System.Data.Common;

namespace RoutingDataSource;

/// <summary>
/// Raised when the data source cannot route or finish an operation. <see cref="Failure"/> says why,
/// <see cref="MayHaveCommitted"/> whether a write may have taken effect anyway, <see cref="DbException.IsTransient"/>
/// whether re-running the whole unit of work later may succeed, and the message says what to do.
/// </summary>
public sealed class RoutingException : DbException
{
    private readonly bool _isTransient;

    internal RoutingException(RoutingFailure failure, string message, Exception? innerException = null, string? backendName = null,
        bool mayHaveCommitted = false, string? clusterState = null)
        : base(message, innerException)
    {
        Failure = failure;
        BackendName = backendName;
        MayHaveCommitted = mayHaveCommitted;
        ClusterState = clusterState;
        _isTransient = failure is not (RoutingFailure.TwoPrimaries or RoutingFailure.Misconfigured);
    }

    /// <summary>What went wrong.</summary>
    public RoutingFailure Failure { get; }

    /// <summary>The backend the operation was on or meant for, when there was one.</summary>
    public string? BackendName { get; }

    /// <summary>
    /// True when a write was in flight as the server was lost: it may have committed. The library never re-runs such a
    /// statement by itself.
    /// </summary>
    public bool MayHaveCommitted { get; }

    /// <summary>The cluster as the data source saw it when this was raised (primary, problem), for logs.</summary>
    public string? ClusterState { get; }

    /// <inheritdoc />
    public override bool IsTransient => _isTransient;
}
