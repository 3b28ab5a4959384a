using System.Net.Sockets;
using Npgsql;
using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using RoutingDataSource.Topology;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Resilience;

/// <summary>
/// A wrong password (28P01), a refused login (28000) or an unknown database (3D000) is no outage: logged at once and
/// once per backend (event 1017), and on the primary a non-transient <see cref="RoutingFailure.Misconfigured"/> at
/// once instead of <see cref="RoutingFailure.NoPrimary"/> after <see cref="RoutingOptions.FailoverTimeout"/>. On a
/// standby it only makes that standby ineligible. Real servers: the shared cluster with a password-checked role.
/// </summary>
[Collection("cluster")]
public sealed class PermanentConnectionErrorTests(ClusterFixture fx)
{
    private const string PasswordRole = "rds_checked_password";
    private const string NoLoginRole = "rds_no_login";

    private static readonly SemaphoreSlim Once = new(1, 1);
    private static bool _prepared;

    /// <summary>A role whose password every node checks (scram, ahead of the cluster's trust lines), and one that may not log in.</summary>
    private async Task PrepareAsync()
    {
        await Once.WaitAsync();
        try
        {
            if (_prepared)
                return;
            await fx.Cluster.Primary.ExecuteAsync($"""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PasswordRole}') THEN CREATE ROLE {PasswordRole} LOGIN PASSWORD 'right'; END IF;
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{NoLoginRole}') THEN CREATE ROLE {NoLoginRole} NOLOGIN; END IF;
                END $$
                """);
            await fx.Cluster.WaitForReplicationAsync();
            foreach (var node in fx.Cluster.Nodes)
            {
                var hba = Path.Combine(node.DataDirectory, "pg_hba.conf");
                var text = await File.ReadAllTextAsync(hba);
                if (!text.Contains(PasswordRole, StringComparison.Ordinal))
                    await File.WriteAllTextAsync(hba, $"host all {PasswordRole} 127.0.0.1/32 scram-sha-256\n" + text);
                await node.ExecuteAsync("SELECT pg_reload_conf()");
            }
            _prepared = true;
        }
        finally
        {
            Once.Release();
        }
    }

    /// <summary>Not pooled: every statement logs in anew, as new pooled connections do once the old ones are gone.</summary>
    private static string RightPasswordUnpooled(LocalPgNode node) => node.ConnectionStringWith(b => { b.Username = PasswordRole; b.Password = "right"; b.Pooling = false; });

    /// <summary>Runs <paramref name="body"/> while the password role's password is not the one the data sources use.</summary>
    private async Task WhilePasswordChangedAsync(Func<Task> body)
    {
        await fx.Cluster.Primary.ExecuteAsync($"ALTER ROLE {PasswordRole} PASSWORD 'changed'");
        try
        {
            await fx.Cluster.WaitForReplicationAsync();
            await body();
        }
        finally
        {
            await fx.Cluster.Primary.ExecuteAsync($"ALTER ROLE {PasswordRole} PASSWORD 'right'");
        }
    }

    private static string WrongPassword(LocalPgNode node) => node.ConnectionStringWith(b => { b.Username = PasswordRole; b.Password = "wrong-password"; });

    /// <summary>A data source whose backend <paramref name="bad"/> uses <paramref name="badConnectionString"/>, the others the superuser.</summary>
    private async Task<PgRoutingDataSource> BuildAsync(string bad, Func<LocalPgNode, string> badConnectionString, CapturedLogs logs)
    {
        await PrepareAsync();
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fx.Cluster.Nodes)
            b.AddBackend(n.Name, n.Name == bad ? badConnectionString(n) : n.ConnectionString);
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(100);
        b.Options.FailoverTimeout = TimeSpan.FromMinutes(5); // a wait for it would outlast the test's own timeout
        b.UseLoggerFactory(logs);
        var ds = b.Build();
        await ds.RefreshStatusAsync();
        return ds;
    }

    /// <summary>Lets the monitor run <paramref name="rounds"/> more probe rounds.</summary>
    private static async Task RoundsAsync(PgRoutingDataSource ds, int rounds)
    {
        for (var i = 0; i < rounds; i++)
            await ds.RefreshStatusAsync();
    }

    public static TheoryData<string, string> PrimaryErrors => new()
    {
        { "wrong password", "28P01" },
        { "login refused", "28000" },
        { "unknown database", "3D000" },
    };

    private static Func<LocalPgNode, string> ConnectionStringFor(string error) => error switch
    {
        "wrong password" => WrongPassword,
        "login refused" => n => n.ConnectionStringWith(b => b.Username = NoLoginRole),
        _ => n => n.ConnectionStringWith(b => b.Database = "no_such_database"),
    };

    [Theory]
    [MemberData(nameof(PrimaryErrors))]
    public async Task On_the_primary_writes_fail_at_once_as_misconfigured_and_it_is_logged_once(string error, string sqlState)
    {
        var logs = new CapturedLogs();
        await using var ds = await BuildAsync("n0", ConnectionStringFor(error), logs);
        await using var conn = await ds.OpenConnectionAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var e = await Assert.ThrowsAsync<RoutingException>(async () =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "INSERT INTO items (owner) VALUES ('misconfigured')";
            await cmd.ExecuteNonQueryAsync(timeout.Token);
        });
        Assert.Equal(RoutingFailure.Misconfigured, e.Failure);
        Assert.False(e.IsTransient);
        Assert.False(e.MayHaveCommitted);
        Assert.Equal("n0", e.BackendName);
        Assert.Contains(sqlState, e.Message, StringComparison.Ordinal);
        Assert.Contains("retrying does not help", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", e.Message, StringComparison.Ordinal);

        // Reads go on (standbys), and the status says what is wrong.
        Assert.Equal(0L, await ScalarAsync(conn, "SELECT count(*) FROM items WHERE owner = 'misconfigured'"));
        Assert.Contains(sqlState, ds.GetStatus()["n0"]!.LastError, StringComparison.Ordinal);

        await RoundsAsync(ds, 5);
        var logged = Assert.Single(logs.Entries, l => l.EventId == 1017);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Error, logged.Level);
        Assert.Contains("n0", logged.Message, StringComparison.Ordinal);
        Assert.Contains(sqlState, logged.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_standby_with_a_wrong_password_gets_no_reads_is_logged_once_and_writes_go_on()
    {
        var logs = new CapturedLogs();
        await using var ds = await BuildAsync("n1", WrongPassword, logs);
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(1, await NonQueryAsync(conn, "INSERT INTO items (owner) VALUES ('standby-misconfigured')"));
        await using (var reader = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 20; i++)
                Assert.Equal(fx.Cluster.Node("n2").Port, await ServerPortAsync(reader));
        }
        await RoundsAsync(ds, 5);
        var status = ds.GetStatus()["n1"]!;
        Assert.Equal(0, status.ReadCount);
        Assert.False(status.ServesReads);
        Assert.Contains("28P01", status.LastError, StringComparison.Ordinal);
        Assert.Contains("n1", Assert.Single(logs.Entries, l => l.EventId == 1017).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_permanent_error_is_logged_again_only_after_the_backend_answered_in_between()
    {
        var logs = new CapturedLogs();
        await using var ds = await BuildAsync("n1", WrongPassword, logs);
        await RoundsAsync(ds, 3);
        Assert.Equal(1, logs.Count(1017));
        await fx.Cluster.Primary.ExecuteAsync($"ALTER ROLE {PasswordRole} PASSWORD 'wrong-password'");
        try
        {
            await fx.Cluster.WaitForReplicationAsync();
            await ClusterTestEventuallyAsync(ds, s => s["n1"]!.State == BackendState.Up);
            await fx.Cluster.Primary.ExecuteAsync($"ALTER ROLE {PasswordRole} PASSWORD 'right'");
            await fx.Cluster.WaitForReplicationAsync();
            // Sessions already open stay open: end them, so that the next probe logs in again.
            await fx.Cluster.Node("n1").ExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{PasswordRole}'");
            await ClusterTestEventuallyAsync(ds, s => s["n1"]!.LastError is not null);
            await RoundsAsync(ds, 3);
            Assert.Equal(2, logs.Count(1017));
        }
        finally
        {
            await fx.Cluster.Primary.ExecuteAsync($"ALTER ROLE {PasswordRole} PASSWORD 'right'");
        }
    }

    [Fact]
    public async Task A_password_changed_under_a_live_standby_takes_it_out_of_service_and_its_reads_are_re_run_elsewhere()
    {
        var logs = new CapturedLogs();
        await using var ds = await BuildAsync("n1", RightPasswordUnpooled, logs);
        await using (var conn = await ds.OpenConnectionAsync())
        {
            for (var i = 0; i < 10; i++)
                await ScalarAsync(conn, "SELECT 1");
        }
        Assert.Equal(5, ds.GetStatus()["n1"]!.ReadCount);
        await WhilePasswordChangedAsync(async () =>
        {
            // The probes' own sessions are still logged in: n1 looks healthy until a login is refused.
            await using (var conn = await ds.OpenConnectionAsync())
            {
                for (var i = 0; i < 10; i++)
                    Assert.Equal(1, await ScalarAsync(conn, "SELECT 1"));
            }
            await ClusterTestEventuallyAsync(ds, s => s["n1"]!.LastError is { } e && e.Contains("28P01", StringComparison.Ordinal) && !s["n1"]!.ServesReads);
            Assert.Contains("n1", Assert.Single(logs.Entries, l => l.EventId == 1017).Message, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task A_password_changed_under_a_live_primary_fails_the_next_write_as_misconfigured()
    {
        var logs = new CapturedLogs();
        await using var ds = await BuildAsync("n0", RightPasswordUnpooled, logs);
        const string write = "SELECT pg_notify('rds_misconfigured', 'x')"; // volatile: a write, on the primary
        await using (var before = await ds.OpenConnectionAsync())
            await NonQueryAsync(before, write);
        await WhilePasswordChangedAsync(async () =>
        {
            await using var conn = await ds.OpenConnectionAsync(); // a new primary session: a new login
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var e = await Assert.ThrowsAsync<RoutingException>(async () =>
            {
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = write;
                await cmd.ExecuteNonQueryAsync(timeout.Token);
            });
            Assert.Equal(RoutingFailure.Misconfigured, e.Failure);
            Assert.Contains("28P01", e.Message, StringComparison.Ordinal);
            Assert.Equal(1, logs.Count(1017));
        });
    }

    private static async Task ClusterTestEventuallyAsync(PgRoutingDataSource ds, Func<ClusterStatus, bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await Testing.ClusterTest.EventuallyAsync(async () => condition(await ds.RefreshStatusAsync(timeout.Token)), "the status changes", timeout.Token);
    }

    [Theory]
    [InlineData(SocketError.HostNotFound, true)]
    [InlineData(SocketError.NoData, true)]
    [InlineData(SocketError.ConnectionRefused, false)]
    [InlineData(SocketError.TimedOut, false)]
    public void An_unknown_host_is_permanent_a_refused_connection_is_not(SocketError error, bool permanent)
    {
        // As Npgsql reports a failed name lookup or connection: the socket error inside its own exception.
        var e = new NpgsqlException("Failed to connect to no-such-host", new SocketException((int)error));
        Assert.Equal(permanent, PermanentConnectionError.Advice(e) is not null);
    }

    [Theory]
    [InlineData("28P01", true)]
    [InlineData("28000", true)]
    [InlineData("3D000", true)]
    [InlineData("57P03", false)] // the database system is starting up
    [InlineData("53300", false)] // too many connections
    public void Server_errors_that_do_not_pass_by_themselves_are_permanent(string sqlState, bool permanent)
        => Assert.Equal(permanent, PermanentConnectionError.Advice(new PostgresException("m", "FATAL", "FATAL", sqlState)) is not null);
}
