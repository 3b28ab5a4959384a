using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RoutingDataSource.HealthChecks;

/// <summary>The outcome of <see cref="ClusterHealth.Evaluate"/>: a status, a one-line description and the status table.</summary>
internal sealed record HealthVerdict(HealthStatus Status, string Description, IReadOnlyDictionary<string, object> Data);
