using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RoutingDataSource.HealthChecks;

/// <summary>Turns a <see cref="ClusterStatus"/> into a health verdict. Pure: no I/O, no clock.</summary>
internal static class ClusterHealth
{
    public static HealthVerdict Evaluate(ClusterStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var data = DataOf(status);
        if (status.PrimaryName is not { } primaryName)
            return new HealthVerdict(HealthStatus.Unhealthy, status.Problem ?? "no writable primary", data); // the problem says "no primary: ..." or "two primaries ..."

        var problems = new List<string>();
        var standbys = 0;
        var serving = 0;
        foreach (var b in status.Backends)
        {
            if (string.Equals(b.Name, primaryName, StringComparison.Ordinal))
            {
                // Writes wait for the next probe round while this is so (a failover may be starting).
                if (b.LastError is not null)
                    problems.Add($"primary {b.Name}: last health check failed ({b.LastError})");
                continue;
            }
            standbys++;
            if (b.Role == BackendRole.Standby && b.State == BackendState.Up && b.ServesReads)
            {
                serving++;
                continue;
            }
            if (Problem(b) is { } p)
                problems.Add(p);
        }

        if (standbys > 0 && serving == 0)
            problems.Insert(0, "no standby serves reads: reads go to the primary");
        if (problems.Count > 0)
            return new HealthVerdict(HealthStatus.Degraded, string.Join("; ", problems), data);
        return new HealthVerdict(HealthStatus.Healthy,
            string.Create(CultureInfo.InvariantCulture, $"primary {primaryName}; {serving} of {standbys} standbys serve reads"), data);
    }

    /// <summary>What is wrong with a backend that is not the primary and does not serve reads, or null when nothing is.</summary>
    private static string? Problem(BackendStatus b)
    {
        var why = b.LastError ?? b.Reason;
        var suffix = why is null ? "" : $" ({why})";
        return b.State switch
        {
            BackendState.Down => $"{b.Name} down{suffix}",
            BackendState.Detached => $"{b.Name} detached",
            BackendState.Fenced => $"{b.Name} fenced{suffix}",
            _ when b.Role != BackendRole.Standby => $"{b.Name} is up but not a standby ({b.Role.ToString().ToLowerInvariant()}){suffix}",
            // A weight-0 standby is meant to serve no reads (a failover reserve): only a reason makes it a problem.
            _ when b.Weight == 0 => why is null ? null : $"{b.Name}{suffix}",
            _ => $"{b.Name} serves no reads{suffix}",
        };
    }

    private static Dictionary<string, object> DataOf(ClusterStatus status)
    {
        var backends = new List<IReadOnlyDictionary<string, object?>>(status.Backends.Count);
        foreach (var b in status.Backends)
        {
            backends.Add(new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                // name, host, port, role, state, timeline, lagBytes: as the coordinator's GET /cluster names its members' fields.
                ["name"] = b.Name,
                ["host"] = b.Host,
                ["port"] = b.Port,
                ["role"] = b.Role.ToString().ToLowerInvariant(),
                ["state"] = b.State.ToString().ToLowerInvariant(),
                ["timeline"] = b.Timeline,
                ["weight"] = b.Weight,
                ["servesReads"] = b.ServesReads,
                ["lagBytes"] = b.LagBytes,
                ["lagSeconds"] = b.Lag?.TotalSeconds,
                ["reads"] = b.ReadCount,
                ["writes"] = b.WriteCount,
                ["reason"] = b.Reason,
                ["lastError"] = b.LastError,
            });
        }
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["observedAt"] = status.ObservedAt,
            ["backends"] = backends,
            ["table"] = status.ToString(),
        };
        if (status.PrimaryName is { } primary)
        {
            data["primary"] = primary;
            if (status[primary]?.Timeline is { } timeline)
                data["timeline"] = timeline;
        }
        if (status.Problem is { } problem)
            data["problem"] = problem;
        return data;
    }
}
