using Microsoft.Extensions.Logging;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>A step refused because this coordinator does not lead (any more): nothing was changed on the server.</summary>
internal sealed class NotLeaderException(string message) : Exception(message);

/// <summary>
/// The leader's <see cref="IMutationGuard"/>: before each change to a server, this coordinator must lead (its term's
/// deadline not passed) and an etcd transaction comparing the leader key with this term's (the fencing token) must
/// succeed. A deposed or cut-off leader's late step throws <see cref="NotLeaderException"/> and is logged.
/// </summary>
internal sealed class LeaderGuard(HaCoordination ha, ILogger logger) : IMutationGuard
{
    /// <summary>Test hook: a crash point. When it returns true for a mutation, the coordinator behaves as if its process died just before it.</summary>
    internal Func<Mutation, bool>? CrashBefore { get; set; }

    public async ValueTask BeforeAsync(Mutation mutation, CancellationToken cancellationToken)
    {
        if (CrashBefore?.Invoke(mutation) == true)
            ha.CrashForTests();
        var refusal = await ha.FenceAsync(cancellationToken).ConfigureAwait(false);
        if (refusal is null)
            return;
        HaLog.StepRefused(logger, mutation.Kind.ToString(), mutation.Member, mutation.Detail ?? "", refusal);
        throw new NotLeaderException($"{mutation.Kind} of {mutation.Member} not done: {refusal}");
    }
}
