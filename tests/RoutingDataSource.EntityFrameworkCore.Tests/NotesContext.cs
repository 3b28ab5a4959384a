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

    /// <summary>The port of the server that runs the query, as a LINQ-translatable function (PostgreSQL's <c>inet_server_port()</c>).</summary>
    public static int ServerPort() => throw new InvalidOperationException("Only inside a LINQ query.");

    /// <summary>PostgreSQL's <c>pg_is_in_recovery()</c>: true on a standby.</summary>
    public static bool InRecovery() => throw new InvalidOperationException("Only inside a LINQ query.");

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDbFunction(typeof(NotesContext).GetMethod(nameof(ServerPort))!).HasName("inet_server_port").IsBuiltIn();
        modelBuilder.HasDbFunction(typeof(NotesContext).GetMethod(nameof(InRecovery))!).HasName("pg_is_in_recovery").IsBuiltIn();
    }
}

internal static class ServerQueries
{
    /// <summary>The port of the server a LINQ query of this context runs on (asked by the query itself).</summary>
    public static Task<int> ServerPortAsync(this NotesContext context, CancellationToken cancellationToken = default)
        => context.Notes.Select(n => NotesContext.ServerPort()).FirstAsync(cancellationToken);

    /// <summary>The port of the server a raw SQL query of this context runs on.</summary>
    public static Task<int> RawServerPortAsync(this DbContext context, CancellationToken cancellationToken = default)
        => context.Database.SqlQuery<int>($"SELECT inet_server_port() AS \"Value\"").SingleAsync(cancellationToken);
}
