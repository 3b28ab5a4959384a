using RoutingDataSource.Testing.Internal;

namespace RoutingDataSource.Tests.Testing;

public sealed class PgBinariesTests
{
    private static readonly string[] Debian = ["/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"];

    [Fact]
    public void PG_BIN_wins_when_it_holds_the_server_programs() =>
        Assert.Equal("/opt/pg/bin", PgBinaries.Choose("/opt/pg/bin", "/usr/lib/postgresql/15/bin", Debian, _ => true));

    [Fact]
    public void Pg_config_bindir_is_used_only_when_it_holds_the_server_programs()
    {
        Assert.Equal("/usr/pgsql/bin", PgBinaries.Choose(null, "/usr/pgsql/bin", Debian, _ => true));
        // Debian's pg_config (libpq-dev) answers /usr/bin, which has no server.
        Assert.Equal("/usr/lib/postgresql/16/bin", PgBinaries.Choose("/nowhere", "/usr/bin", Debian, d => d.StartsWith("/usr/lib", StringComparison.Ordinal)));
    }

    [Fact]
    public void Newest_debian_version_wins_by_number_not_by_text() =>
        Assert.Equal("/usr/lib/postgresql/16/bin", PgBinaries.Choose(null, null, Debian, _ => true));

    [Fact]
    public void No_server_anywhere_gives_null() =>
        Assert.Null(PgBinaries.Choose(null, null, Debian, _ => false));
}
