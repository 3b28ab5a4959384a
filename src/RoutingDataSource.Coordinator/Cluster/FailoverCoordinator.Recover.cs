using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Diagnostics;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>Online recovery (Pgpool's <c>pcp_recovery_node</c>): a member rebuilt from the primary by its agent.</summary>
internal sealed partial class FailoverCoordinator
{
    /// <summary>
    /// Rebuilds <paramref name="name"/> from the current primary through its agent (a fresh pg_basebackup; the old
    /// data directory is kept aside until the copy streams) and waits for the outcome. Only the leader, only with a
    /// healthy primary that is not that member.
    /// </summary>
    public async Task<Outcome> RecoverAsync(string name)
    {
        if (Find(name) is not { } m)
            return Outcome.NotFound($"no member named '{name}' (members: {string.Join(", ", Members.Select(x => x.Name))})");
        if (m.Agent is null)
            return Outcome.Bad($"{name} has no agent (Backends:{name}:Agent): recover it by hand (README: rejoining an old primary)");
        if (!MayAct)
            return Outcome.Conflict($"this coordinator does not lead (leader: {_ha?.Leader ?? "none"}); send it to the leader");
        if (_primary is not { } p || Find(p) is not { } primary || _verdict is not { Kind: Decisions.VerdictKind.Healthy })
            return Outcome.Conflict($"no healthy primary to rebuild {name} from ({_verdict?.Evidence ?? "none known yet"})");
        if (primary == m)
            return Outcome.Bad($"{name} is the primary: switch over to another member first");
        Log.ManualRecover(_logger, name, primary.Name);
        var outcome = await _rejoins.RunNowAsync(m, primary, AgentOrderKind.Rebuild, "recover requested by an operator").ConfigureAwait(false);
        Publish();
        return outcome;
    }
}
