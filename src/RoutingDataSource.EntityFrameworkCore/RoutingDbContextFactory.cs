using System.Diagnostics.CodeAnalysis;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// Creates EF Core contexts over a <see cref="PgRoutingDataSource"/> cluster. The Npgsql EF Core provider needs a real
/// <see cref="NpgsqlConnection"/> (it reads <c>NpgsqlDataReader</c> internals when saving), so a context cannot route
/// statement by statement: each context is bound to one server for its whole life. <see cref="CreateDbContextAsync"/>
/// binds it to the current primary; <see cref="CreateReadOnlyDbContextAsync"/> to one eligible standby (the primary when
/// none is), read-only and not tracking by default. The context owns its connection: disposing it returns the
/// connection to that server's pool. Create one per unit of work, as with any <c>IDbContextFactory</c>.
/// </summary>
/// <typeparam name="TContext">The context type; it needs a public constructor taking <c>DbContextOptions&lt;TContext&gt;</c> (plus services, when created through DI).</typeparam>
public sealed class RoutingDbContextFactory<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TContext>
    where TContext : DbContext
{
    private readonly PgRoutingDataSource _dataSource;
    private readonly Action<DbContextOptionsBuilder<TContext>>? _configure;
    private readonly Action<NpgsqlDbContextOptionsBuilder>? _npgsqlOptions;
    private readonly Func<DbContextOptions<TContext>, TContext> _create;

    /// <summary>Creates a factory over <paramref name="dataSource"/> (which it does not own or dispose).</summary>
    /// <param name="dataSource">The routing data source that picks the server for each new context.</param>
    /// <param name="configure">Provider-independent context options (logging, interceptors, ...), applied to every context. Do not call <c>UseNpgsql</c> here.</param>
    /// <param name="npgsqlOptions">Npgsql provider options (migrations assembly, NodaTime, <c>EnableRetryOnFailure</c>, ...), applied to every context.</param>
    /// <param name="create">Builds the context from its options; by default its <c>DbContextOptions&lt;TContext&gt;</c> constructor.</param>
    public RoutingDbContextFactory(PgRoutingDataSource dataSource, Action<DbContextOptionsBuilder<TContext>>? configure = null,
        Action<NpgsqlDbContextOptionsBuilder>? npgsqlOptions = null, Func<DbContextOptions<TContext>, TContext>? create = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _configure = configure;
        _npgsqlOptions = npgsqlOptions;
        _create = create ?? (static options => (TContext)Activator.CreateInstance(typeof(TContext), options)!);
    }

    /// <summary>
    /// Creates a read-write context bound to the current primary (waiting up to
    /// <see cref="RoutingOptions.FailoverTimeout"/> for one). Everything it runs, reads included, runs on that server.
    /// </summary>
    /// <exception cref="RoutingException">No writable primary within the failover timeout.</exception>
    public async Task<TContext> CreateDbContextAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenPrimaryConnectionAsync(cancellationToken).ConfigureAwait(false);
        return Create(connection, readOnly: false);
    }

    /// <summary>
    /// Creates a read-only context bound to one eligible standby chosen by weight (the primary when no standby is
    /// eligible), for its whole life. Queries do not track entities by default; <c>SaveChanges</c> throws
    /// <see cref="InvalidOperationException"/>; and the session is read-only
    /// (<c>default_transaction_read_only</c>), so raw SQL that writes fails too, even on the primary.
    /// </summary>
    /// <remarks>
    /// The standby is chosen when the context is created, within the lag limits and honoring
    /// <see cref="ReadYourWritesScope.DataSource"/> at that moment; the context is not moved if the standby later falls
    /// behind or goes down. Writes made through a read-write context are not tracked for read-your-writes: a read-only
    /// context created right after one may not see them yet.
    /// </remarks>
    public async Task<TContext> CreateReadOnlyDbContextAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenStandbyConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A standby refuses writes by itself; this makes the primary, when it serves as the fallback, refuse them
            // too. Npgsql resets the session (DISCARD ALL) when the connection goes back to its pool.
            await using var command = new NpgsqlCommand("SET default_transaction_read_only = on", connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return Create(connection, readOnly: true);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private TContext Create(NpgsqlConnection connection, bool readOnly)
    {
        try
        {
            var builder = new DbContextOptionsBuilder<TContext>();
            builder.UseNpgsql(connection, contextOwnsConnection: true, _npgsqlOptions);
            _configure?.Invoke(builder);
            if (readOnly)
            {
                builder.UseQueryTrackingBehavior(QueryTrackingBehavior.NoTracking);
                builder.AddInterceptors(ReadOnlyContextInterceptor.Instance);
            }
            return _create(builder.Options);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
