namespace RoutingDataSource.Tests.Classification;

/// <summary>
/// A fact that needs the conformance corpus. xunit 2 cannot skip at run time, so the decision is made
/// here, when the test is discovered: without the corpus (a user's clone) the test is skipped with a
/// reason naming the expected path; with <c>CI=true</c> it always runs, and fails if the corpus is missing,
/// so CI can never pass without it.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class CorpusFactAttribute : FactAttribute
{
    public CorpusFactAttribute()
    {
        if (!CorpusLocator.IsAvailable && !CorpusLocator.IsCi)
        {
            Skip = CorpusLocator.MissingReason + "; skipped because CI is not \"true\"";
        }
    }
}
