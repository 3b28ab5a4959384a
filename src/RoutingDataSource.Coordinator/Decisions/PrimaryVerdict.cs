namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>What the failure detector concluded about the primary in one round.</summary>
internal enum VerdictKind
{
    /// <summary>The primary answered.</summary>
    Healthy,

    /// <summary>It failed, fewer than FailureThreshold times in a row.</summary>
    Suspect,

    /// <summary>It failed FailureThreshold times in a row, but a standby still streams from it: this coordinator is probably cut off from it.</summary>
    Vetoed,

    /// <summary>It failed FailureThreshold times in a row and no standby streams from it: fail over.</summary>
    Dead,
}

/// <summary>The verdict on <see cref="Primary"/>, with the evidence that is logged and shown by the API.</summary>
internal sealed record PrimaryVerdict(VerdictKind Kind, string Primary, int Failures, TimeSpan Unreachable, string Evidence, IReadOnlyList<string> StreamingStandbys);
