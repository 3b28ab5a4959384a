using System.Data;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using RoutingDataSource;
using RoutingDataSource.EntityFrameworkCore;

#pragma warning disable IDE0130 // beside EF's own DatabaseFacade extensions
namespace Microsoft.EntityFrameworkCore;
#pragma warning restore IDE0130

/// <summary>Routing controls on a context configured with <c>UseRoutingDataSource</c>.</summary>
public static class RoutingDatabaseFacadeExtensions
{
    /// <summary>
    /// Begins a read-only transaction on one eligible standby (within the lag limits and this context's
    /// read-your-writes; the primary, with <c>SET TRANSACTION READ ONLY</c>, when none is): every statement of the
    /// context runs there, on one snapshot, until the transaction ends. Use it for reports that read several times and
    /// need them consistent. Writes in it fail (25006). Call it when the context holds no open connection of its own
    /// (not after <c>Database.OpenConnection()</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The context is not configured with <c>UseRoutingDataSource</c>, or is in a transaction already.</exception>
    public static async Task<IDbContextTransaction> BeginReadOnlyTransactionAsync(this DatabaseFacade database,
        IsolationLevel isolationLevel = IsolationLevel.Unspecified, CancellationToken cancellationToken = default)
    {
        var s = SessionOf(database);
        if (database.CurrentTransaction is not null)
            throw new InvalidOperationException("A transaction is already in progress on this context.");
        var node = await s.Connection.SelectReadNodeAsync(cancellationToken).ConfigureAwait(false);
        if (node.Role == RoutingDataSource.BackendRole.Primary)
        {
            s.ReadOnlyOnPrimary = true;
        }
        else
        {
            var standby = node.Backend.Pool.CreateConnection();
            database.SetDbConnection(standby, contextOwnsConnection: true);
            s.ContextConnectionMovedTo(standby, node.Backend);
            s.ReadOnlyPending = true;
        }
        try
        {
            return await database.BeginTransactionAsync(isolationLevel, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            s.TransactionBegun();
            throw;
        }
    }

    /// <summary>
    /// A token for everything this context has written so far (see <see cref="RoutingConnection.GetCausalityToken"/>):
    /// give it to <see cref="UseCausalityToken"/> on another context, in this process or another, and that context's
    /// reads see those writes.
    /// </summary>
    public static Task<string> GetCausalityTokenAsync(this DatabaseFacade database, CancellationToken cancellationToken = default)
        => SessionOf(database).Connection.GetCausalityTokenAsync(cancellationToken);

    /// <summary>This context's reads see at least everything <paramref name="causalityToken"/> covers (a standby serves them only once it has replayed that far).</summary>
    /// <exception cref="ArgumentException">The token is not one this library produced.</exception>
    public static void UseCausalityToken(this DatabaseFacade database, string causalityToken)
        => SessionOf(database).Connection.RequireAtLeast(RoutingDataSource.Routing.CausalityToken.Parse(causalityToken));

    private static RoutingSession SessionOf(DatabaseFacade database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var context = ((IDatabaseFacadeDependenciesAccessor)database).Context;
        return RoutingSession.Of(context)
            ?? throw new InvalidOperationException($"{context.GetType().Name} is not configured with UseRoutingDataSource(...).");
    }
}
