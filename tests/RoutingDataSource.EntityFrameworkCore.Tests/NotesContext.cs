using Microsoft.EntityFrameworkCore;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

public sealed class Note
{
    public int Id { get; set; }

    public string Text { get; set; } = "";
}

public sealed class NotesContext(DbContextOptions<NotesContext> options) : DbContext(options)
{
    public DbSet<Note> Notes => Set<Note>();
}

internal static class ServerQueries
{
    /// <summary>The port of the server this context is bound to, asked through the context itself.</summary>
    public static Task<int> ServerPortAsync(this DbContext context, CancellationToken cancellationToken = default)
        => context.Database.SqlQuery<int>($"SELECT inet_server_port() AS \"Value\"").SingleAsync(cancellationToken);

    public static Task<bool> InRecoveryAsync(this DbContext context, CancellationToken cancellationToken = default)
        => context.Database.SqlQuery<bool>($"SELECT pg_is_in_recovery() AS \"Value\"").SingleAsync(cancellationToken);
}
