namespace RoutingDataSource.Coordinator.Configuration;

/// <summary>The configuration spelling of <see cref="RejoinPolicy"/>: <c>rewind-or-rebuild</c>, <c>rewind</c>, <c>manual</c>.</summary>
internal static class RejoinPolicies
{
    public static bool TryParse(string text, out RejoinPolicy policy)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "rewind-or-rebuild":
                policy = RejoinPolicy.RewindOrRebuild;
                return true;
            case "rewind":
                policy = RejoinPolicy.Rewind;
                return true;
            case "manual":
                policy = RejoinPolicy.Manual;
                return true;
            default:
                policy = default;
                return false;
        }
    }
}
