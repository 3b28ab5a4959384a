using System.Globalization;
using System.Text;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

/// <summary>
/// A point-in-time view of the cluster as the data source routes to it: the library's <c>SHOW POOL_NODES</c>.
/// Returned by <see cref="PgRoutingDataSource.GetStatus"/>.
/// </summary>
public sealed class ClusterStatus
{
    internal ClusterStatus(IReadOnlyList<BackendStatus> backends, string? primaryName, string? problem, DateTimeOffset observedAt)
    {
        Backends = backends;
        PrimaryName = primaryName;
        Problem = problem;
        ObservedAt = observedAt;
    }

    /// <summary>The status a snapshot shows: one row per backend, with its counters as they are now.</summary>
    internal static ClusterStatus From(ClusterSnapshot s)
    {
        var rows = new BackendStatus[s.Nodes.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var n = s.Nodes[i];
            var b = n.Backend;
            rows[i] = new BackendStatus(b.Name, b.Host, b.Port)
            {
                Role = n.Role,
                State = n.State,
                Weight = b.Weight,
                ReadCount = b.Reads,
                WriteCount = b.Writes,
                RerouteCount = b.Reroutes,
                RetryCount = b.Retries,
                GuardHits = b.Replay.Hits,
                GuardMisses = b.Replay.Misses,
                ReplayDelayEstimate = b.Replay.Threshold,
                LagBytes = n.LagBytes,
                Lag = n.Lag,
                Timeline = n.Timeline,
                ReplayPaused = n.ReplayPaused,
                SyncState = n.SyncState,
                WalReceiverStatus = n.WalReceiverStatus,
                LastStatusChange = n.LastStatusChange,
                ServesReads = Array.IndexOf(s.ReadCandidates, n) >= 0,
                Reason = n.Reason,
                LastError = n.LastError,
            };
        }
        return new ClusterStatus(rows, s.Primary?.Backend.Name, s.ProblemMessage, s.TakenAt);
    }

    /// <summary>Every configured backend, in configuration order.</summary>
    public IReadOnlyList<BackendStatus> Backends { get; }

    /// <summary>The backend writes go to, or null when there is no writable primary.</summary>
    public string? PrimaryName { get; }

    /// <summary>Why there is no writable primary (none found, or two primaries on the same timeline), or null.</summary>
    public string? Problem { get; }

    /// <summary>When the underlying health-check round finished (<see cref="DateTimeOffset.MinValue"/> before the first one).</summary>
    public DateTimeOffset ObservedAt { get; }

    /// <summary>Returns the backend with that name, or null.</summary>
    public BackendStatus? this[string name]
    {
        get
        {
            foreach (var b in Backends)
            {
                if (string.Equals(b.Name, name, StringComparison.Ordinal))
                    return b;
            }
            return null;
        }
    }

    // A down server's reason is only a count ("12 failed health check(s)"): what it answered is what a person acts on.
    private static string ReasonCell(BackendStatus b) => (b.Reason, b.LastError) switch
    {
        (null, null) => "",
        ({ } r, null) => r,
        (null, { } e) => $"last error: {e}",
        ({ } r, { } e) => $"{r}; last error: {e}",
    };

    /// <summary>Renders the status as a fixed-width text table.</summary>
    public override string ToString()
    {
        string[] header = ["name", "host:port", "role", "state", "weight", "reads", "writes", "reroutes", "retries", "lag_bytes", "lag", "timeline", "last_change", "reason"];
        var rows = new List<string[]> { header };
        foreach (var b in Backends)
        {
            rows.Add([
                b.Name,
                string.Create(CultureInfo.InvariantCulture, $"{b.Host}:{b.Port}"),
                b.Role.ToString().ToLowerInvariant(),
                b.State.ToString().ToLowerInvariant(),
                b.Weight.ToString(CultureInfo.InvariantCulture),
                b.ReadCount.ToString(CultureInfo.InvariantCulture),
                b.WriteCount.ToString(CultureInfo.InvariantCulture),
                b.RerouteCount.ToString(CultureInfo.InvariantCulture),
                b.RetryCount.ToString(CultureInfo.InvariantCulture),
                b.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "-",
                b.Lag is { } lag ? lag.TotalSeconds.ToString("0.000s", CultureInfo.InvariantCulture) : "-",
                b.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "-",
                b.LastStatusChange == default ? "-" : b.LastStatusChange.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                ReasonCell(b),
            ]);
        }
        var widths = new int[header.Length];
        foreach (var r in rows)
        {
            for (var i = 0; i < r.Length; i++)
                widths[i] = Math.Max(widths[i], r[i].Length);
        }
        var sb = new StringBuilder();
        sb.Append("primary: ").Append(PrimaryName ?? "(none)");
        if (Problem is not null)
            sb.Append(" — ").Append(Problem);
        sb.AppendLine();
        foreach (var r in rows)
        {
            for (var i = 0; i < r.Length; i++)
            {
                if (i > 0)
                    sb.Append(" | ");
                sb.Append(r[i].PadRight(widths[i]));
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
