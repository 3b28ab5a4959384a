#pragma warning disable IDE0130 // beside EF's own IQueryable extensions (TagWith, AsNoTracking)
namespace Microsoft.EntityFrameworkCore;
#pragma warning restore IDE0130

/// <summary>Query routing hints for contexts configured with <c>UseRoutingDataSource</c>.</summary>
public static class RoutingQueryableExtensions
{
    /// <summary>The hint tag <see cref="OnPrimary{T}"/> adds: the library reads <c>route: primary</c> in a comment.</summary>
    public const string PrimaryTag = "route: primary";

    /// <summary>
    /// Runs the query on the primary (as the tag <c>route: primary</c> does), for a read that must see the latest data
    /// whatever read-your-writes covers. Equivalent to <c>TagWith("route: primary")</c>.
    /// </summary>
    public static IQueryable<T> OnPrimary<T>(this IQueryable<T> source) => source.TagWith(PrimaryTag);
}
