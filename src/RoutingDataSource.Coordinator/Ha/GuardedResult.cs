using Etcdserverpb;

namespace RoutingDataSource.Coordinator.Ha;

/// <summary>How a guarded write ended.</summary>
internal enum GuardedOutcome
{
    /// <summary>Written: the leader key was still this term's and every other comparison held.</summary>
    Applied,

    /// <summary>This coordinator still leads, but another comparison failed (the document changed since it was read).</summary>
    Conflict,

    /// <summary>Not sent or refused: this coordinator does not lead (never did, its term ran out, or it was deposed).</summary>
    NotLeader,
}

/// <summary>The outcome of <see cref="LeaderElection.GuardedMutationAsync"/> and etcd's answer when it was sent.</summary>
internal sealed record GuardedResult(GuardedOutcome Outcome, TxnResponse? Response)
{
    public bool Applied => Outcome == GuardedOutcome.Applied;

    /// <summary>The store's revision after the write (0 when it was not sent).</summary>
    public long Revision => Response?.Header.Revision ?? 0;
}
