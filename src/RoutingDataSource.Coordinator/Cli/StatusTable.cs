using System.Globalization;
using System.Text;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>The cluster as a fixed-width table, like Pgpool's <c>SHOW POOL_NODES</c>.</summary>
internal static class StatusTable
{
    private static readonly string[] Header = ["name", "host:port", "role", "state", "timeline", "lsn", "lag_bytes", "sync_state", "priority", "last_change", "reason"];

    public static string Render(ClusterView view)
    {
        var rows = new List<string[]> { Header };
        foreach (var m in view.Members)
        {
            rows.Add([
                m.Name,
                string.Create(CultureInfo.InvariantCulture, $"{m.Host}:{m.Port}"),
                FailoverCoordinator.NameOf(m.Role),
                FailoverCoordinator.NameOf(m.State),
                m.Timeline?.ToString(CultureInfo.InvariantCulture) ?? "-",
                m.Lsn ?? "-",
                m.LagBytes?.ToString(CultureInfo.InvariantCulture) ?? "-",
                m.SyncState ?? "-",
                m.Priority.ToString(CultureInfo.InvariantCulture),
                m.LastChange?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-",
                m.Reason ?? "",
            ]);
        }
        var widths = Enumerable.Range(0, Header.Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"primary: {view.Primary ?? "(none)"}   timeline: {view.Timeline}   rounds: {view.Rounds}");
        foreach (var r in rows)
            text.AppendLine(string.Join("  ", r.Select((c, i) => i == r.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        if (view.Decision is { } decision)
            text.AppendLine(CultureInfo.InvariantCulture, $"last decision: {decision}");
        if (view.Coordinators is { Count: > 0 } coordinators)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"coordinators: {string.Join(", ", coordinators.Select(c => $"{c.Name}{(c.Leader ? " (leader)" : "")} {c.Http ?? "-"}"))}   leader: {view.Leader ?? "(none)"}");
        }
        else if (view.Ha is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"coordinators: (unknown)   leader: {view.Leader ?? "(none)"}");
        }
        if (view.Ha is { } ha)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"etcd: {ha.Etcd}   lease: {(ha.LeaseId == 0 ? "none" : ha.LeaseId.ToString("x", CultureInfo.InvariantCulture))} (TTL {ha.LeaseTtlSeconds:0} s){(ha.Leads ? $", this coordinator leads (fencing token {ha.FencingToken}, {ha.LeadsForMs} ms left unless renewed)" : ", this coordinator follows")}");
            if (ha.Operation is { } op)
                text.AppendLine(CultureInfo.InvariantCulture, $"operation in progress: {op.Kind} {op.From ?? "(none)"} -> {op.To}, step {op.Step}, by {op.Leader} since {op.StartedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
        }
        if (view.LastFailover is { } f)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"last failover: {f.OldPrimary ?? "(none)"} -> {f.NewPrimary} ({(f.Trigger == FailoverTrigger.Manual ? "manual" : "automatic")}) at {f.At.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, timeline {f.Timeline}, promoted {f.DecisionToPromotedMs} ms after the decision");
        }
        return text.ToString();
    }
}
