using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>Refuses <c>SaveChanges</c> on contexts from <see cref="RoutingDbContextFactory{TContext}.CreateReadOnlyDbContextAsync"/>, before anything is sent.</summary>
internal sealed class ReadOnlyContextInterceptor : SaveChangesInterceptor
{
    public static readonly ReadOnlyContextInterceptor Instance = new();

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
        => throw Refused(eventData.Context);

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
        => throw Refused(eventData.Context);

    private static InvalidOperationException Refused(DbContext? context)
        => new($"This {context?.GetType().Name ?? "DbContext"} is read-only: it was created by CreateReadOnlyDbContextAsync() and is bound to a " +
            "standby for its whole life, so it cannot save changes. Use CreateDbContextAsync() for a context that writes (on the primary).");
}
