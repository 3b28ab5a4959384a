using Microsoft.Extensions.Logging;
using RoutingDataSource.Diagnostics;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Resilience;

/// <summary>What a failed statement reaches in its data source: the monitor to re-probe, metrics, the log and the clock.</summary>
internal sealed class FailureServices(TopologyMonitor monitor, RoutingMetrics metrics, ILogger logger, TimeProvider time)
{
    public TopologyMonitor Monitor { get; } = monitor;

    public RoutingMetrics Metrics { get; } = metrics;

    public ILogger Logger { get; } = logger;

    public TimeProvider Time { get; } = time;

    /// <summary>The cluster's problem in words, for an exception's <see cref="RoutingException.ClusterState"/>.</summary>
    public string? ClusterState => Monitor.Current.ProblemMessage;
}

/// <summary>The logical connection a statement failed on, as far as the failure translation needs it.</summary>
internal interface IFailureSite
{
    /// <summary>The data source's reactions to failures.</summary>
    FailureServices FailureServices { get; }

    /// <summary>Unpins after the pinned server was lost and returns the exception that tells the caller what was lost.</summary>
    RoutingException OnPinnedConnectionLost(Exception? cause);

    /// <summary>
    /// An ordinary failure (<paramref name="cause"/>) after which the driver closed the physical connection (Npgsql
    /// breaks it on an XX000 error or a COPY it cannot run): what lived in that server session is reported lost on this
    /// statement, which fails anyway, rather than on the next one; null when nothing the caller needs was lost.
    /// </summary>
    RoutingException? OnBrokenByStatement(Lease lease, Exception cause);

    /// <summary>Whether the session holds temporary objects (they live in its primary session only).</summary>
    bool HoldsTemporaryObjects { get; }

    /// <summary>
    /// Whether the session itself set <c>default_transaction_read_only</c>: a write the primary refuses with 25006 is
    /// then the session's own answer (as on a plain connection), not the sign of a primary that turned read-only.
    /// </summary>
    bool SetsReadOnlyDefault { get; }
}
