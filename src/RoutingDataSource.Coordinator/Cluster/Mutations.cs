using RoutingDataSource.Coordinator.Actions;

namespace RoutingDataSource.Coordinator.Cluster;

/// <summary>What one step changes on a server.</summary>
internal enum MutationKind
{
    /// <summary>A standby's <c>primary_conninfo</c> emptied: it stops streaming from (and confirming to) its upstream.</summary>
    StopStreaming,

    /// <summary><c>synchronous_standby_names</c> on a primary or on a candidate about to be promoted.</summary>
    SetSynchronousStandbyNames,

    /// <summary><c>pg_promote</c>.</summary>
    Promote,

    /// <summary>A physical replication slot made on a primary for a follower.</summary>
    CreateSlot,

    /// <summary>A follower's unused replication slot dropped from a primary.</summary>
    DropSlot,

    /// <summary>A standby's <c>primary_conninfo</c> and <c>primary_slot_name</c> pointed at a new upstream.</summary>
    Repoint,

    /// <summary>A server answering as a primary that is not the cluster's made read-only and its sessions ended (no agent to demote it).</summary>
    FenceReadOnly,

    /// <summary>That fence undone once the server is a standby again.</summary>
    Unfence,

    /// <summary>An order to a member's node agent (rejoin, rebuild, start, ...): it changes that server's files and process.</summary>
    AgentOrder,
}

/// <summary>One change to one server, as the coordinator is about to make it: the member changed and, for the log, what to.</summary>
internal readonly record struct Mutation(MutationKind Kind, string Member, string? Detail = null);

/// <summary>Runs before every <see cref="Mutation"/>; throwing stops it (e.g. this coordinator no longer leads).</summary>
internal interface IMutationGuard
{
    ValueTask BeforeAsync(Mutation mutation, CancellationToken cancellationToken);
}

/// <summary>
/// Every change the coordinator makes to a server goes through here and nowhere else, so that a guard (a leader's
/// fencing token, a durable record of the step) runs before each one. A coordinator alone has no guard.
/// </summary>
internal sealed class Mutations(IMutationGuard? guard = null)
{
    public async Task<bool> StopStreamingAsync(Member standby, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.StopStreaming, standby.Name), ct).ConfigureAwait(false);
        return await ServerActions.StopStreamingAsync(standby, timeout, time, ct).ConfigureAwait(false);
    }

    public async Task SetSynchronousStandbyNamesAsync(Member member, string value, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.SetSynchronousStandbyNames, member.Name, value), ct).ConfigureAwait(false);
        await ServerActions.SetSynchronousStandbyNamesAsync(member, value, ct).ConfigureAwait(false);
    }

    public async Task<PromotionResult> PromoteAsync(Member standby, TimeSpan wait, TimeProvider time, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.Promote, standby.Name), ct).ConfigureAwait(false);
        return await ServerActions.PromoteAsync(standby, wait, time, ct).ConfigureAwait(false);
    }

    public async Task CreateSlotAsync(Member primary, string slot, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.CreateSlot, primary.Name, slot), ct).ConfigureAwait(false);
        await ServerActions.CreateSlotAsync(primary, slot, ct).ConfigureAwait(false);
    }

    public async Task<bool> DropSlotAsync(Member primary, string slot, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.DropSlot, primary.Name, slot), ct).ConfigureAwait(false);
        return await ServerActions.DropInactiveSlotAsync(primary, slot, ct).ConfigureAwait(false);
    }

    public async Task RepointAsync(Member standby, Member upstream, string conninfo, string slot, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.Repoint, standby.Name, upstream.Name), ct).ConfigureAwait(false);
        await ServerActions.RepointAsync(standby, conninfo, slot, ct).ConfigureAwait(false);
    }

    public async Task<int> FenceReadOnlyAsync(Member server, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.FenceReadOnly, server.Name), ct).ConfigureAwait(false);
        return await ServerActions.FenceReadOnlyAsync(server, ct).ConfigureAwait(false);
    }

    public async Task UnfenceAsync(Member server, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.Unfence, server.Name), ct).ConfigureAwait(false);
        await ServerActions.UnfenceAsync(server, ct).ConfigureAwait(false);
    }

    public async Task<AgentAnswer> OrderAsync(Member member, Agent.AgentOrder order, CancellationToken ct)
    {
        await BeforeAsync(new Mutation(MutationKind.AgentOrder, member.Name, order.Kind.ToString()), ct).ConfigureAwait(false);
        return await member.Agent!.OrderAsync(order, ct).ConfigureAwait(false);
    }

    private ValueTask BeforeAsync(Mutation mutation, CancellationToken ct) => guard?.BeforeAsync(mutation, ct) ?? ValueTask.CompletedTask;
}
