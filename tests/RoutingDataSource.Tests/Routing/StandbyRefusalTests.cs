using Npgsql;
using RoutingDataSource.Tests.Infrastructure;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// DESIGN.md "Routing rules": a standby that refuses a read for a reason tied to recovery (README, "Standby
/// refusals"). Each test provokes the real refusal on the shared cluster's standbys.
/// </summary>
[Collection("cluster")]
public sealed class StandbyRefusalTests(ClusterFixture fx)
{
    private long Reroutes(PgRoutingDataSource ds) => ds.GetStatus()["n1"]!.RerouteCount + ds.GetStatus()["n2"]!.RerouteCount;

    [Fact]
    public async Task Unlogged_table_read_goes_to_the_primary_from_the_start()
    {
        await fx.Cluster.Primary.ExecuteAsync("""
            CREATE UNLOGGED TABLE IF NOT EXISTS refusal_unlogged (id int);
            TRUNCATE refusal_unlogged;
            INSERT INTO refusal_unlogged VALUES (1), (2), (3);
            """);
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(3L, await ScalarAsync(conn, "SELECT count(*) FROM refusal_unlogged"));
        Assert.Equal(0, Reroutes(ds));
        Assert.Equal(1, ds.GetStatus()["n0"]!.ReadCount);
    }

    [Fact]
    public async Task A_table_made_unlogged_after_the_start_is_learnt_from_its_first_refusal()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await fx.Cluster.Primary.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS refusal_late_unlogged (id int);
            ALTER TABLE refusal_late_unlogged SET UNLOGGED;
            """);
        await fx.Cluster.WaitForReplicationAsync();
        await using var conn = await ds.OpenConnectionAsync();
        Assert.Equal(0L, await ScalarAsync(conn, "SELECT count(*) FROM refusal_late_unlogged"));
        Assert.Equal(1, Reroutes(ds));
        // The refusal asks for the names again; bounded wait for the probe rounds that reload them.
        for (var i = 0; i < 40 && !ds.Router.Route(ds.Classifier.Classify("SELECT count(*) FROM refusal_late_unlogged")).Reason.Contains("unlogged", StringComparison.Ordinal); i++)
            await Task.Delay(100);
        Assert.Equal(0L, await ScalarAsync(conn, "SELECT count(*) FROM refusal_late_unlogged"));
        Assert.Equal(1, Reroutes(ds));
        Assert.Equal(2, ds.GetStatus()["n0"]!.ReadCount);
    }

    [Fact]
    public async Task An_unlogged_table_made_through_the_data_source_is_known_at_once()
    {
        await using var ds = await fx.CreateDataSourceAsync(b => b.Options.ReadYourWrites = ReadYourWritesScope.None);
        await using var conn = await ds.OpenConnectionAsync();
        await NonQueryAsync(conn, "DROP TABLE IF EXISTS refusal_own_unlogged");
        await NonQueryAsync(conn, "CREATE UNLOGGED TABLE refusal_own_unlogged (id int)");
        await fx.Cluster.WaitForReplicationAsync();
        Assert.Equal(0L, await ScalarAsync(conn, "SELECT count(*) FROM refusal_own_unlogged"));
        Assert.Equal(0, Reroutes(ds));
        Assert.Equal(1, ds.GetStatus()["n0"]!.ReadCount);
    }

    [Fact]
    public async Task Function_refused_during_recovery_is_rerun_on_the_primary()
    {
        // Declared STABLE, the wrapper goes to a standby, where pg_current_wal_lsn() answers 55000 "recovery is in progress".
        await fx.Cluster.Primary.ExecuteAsync("CREATE OR REPLACE FUNCTION refusal_wal_position() RETURNS pg_lsn LANGUAGE sql STABLE AS 'SELECT pg_current_wal_lsn()'");
        Assert.NotNull(await ReadRerunOnThePrimaryAsync("SELECT refusal_wal_position()"));
    }

    // Runs one read through a fresh data source (after the setup has replicated) and asserts that a standby refused it
    // once and the primary served it.
    private async Task<object?> ReadRerunOnThePrimaryAsync(string sql)
    {
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var value = await ScalarAsync(conn, sql);
        Assert.Equal(1, Reroutes(ds));
        Assert.Equal(1, ds.GetStatus()["n0"]!.ReadCount);
        return value;
    }

    [Fact]
    public async Task Refusal_inside_a_read_only_transaction_on_a_standby_raises_a_clear_error()
    {
        await fx.Cluster.Primary.ExecuteAsync("CREATE UNLOGGED TABLE IF NOT EXISTS refusal_unlogged (id int)");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync();
        await using var tx = await conn.BeginReadOnlyTransactionAsync();
        await ServerPortAsync(conn, tx);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM refusal_unlogged";
        cmd.Transaction = tx;
        var e = await Assert.ThrowsAsync<RoutingException>(() => cmd.ExecuteScalarAsync());
        Assert.Equal(RoutingFailure.RefusedByStandby, e.Failure);
        Assert.Contains("read-only transaction", e.Message, StringComparison.Ordinal);
        Assert.Equal("0A000", Assert.IsType<PostgresException>(e.InnerException).SqlState);
        Assert.Equal(0, Reroutes(ds));
    }

    [Fact]
    public async Task Read_cancelled_by_a_replay_conflict_is_retried()
    {
        await fx.Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS refusal_conflict (id int); INSERT INTO refusal_conflict VALUES (1)");
        await fx.Cluster.WaitForReplicationAsync();
        foreach (var s in fx.Cluster.Standbys)
            await s.ExecuteAsync("ALTER SYSTEM SET max_standby_streaming_delay = 0; SELECT pg_reload_conf()");
        try
        {
            await using var ds = await fx.CreateDataSourceAsync();
            // Bounded: the lock must be replayed while the standby's read holds its own lock on the table.
            for (var attempt = 0; attempt < 5 && Reroutes(ds) == 0; attempt++)
            {
                await using var conn = await ds.OpenConnectionAsync();
                var read = ScalarAsync(conn, "SELECT count(*) FROM refusal_conflict, pg_sleep(1.5)");
                await WaitUntilStandbyRunsAsync("refusal_conflict, pg_sleep");
                // An ACCESS EXCLUSIVE lock is WAL-logged; replaying it cancels the standby's read at once.
                await fx.Cluster.Primary.ExecuteAsync("BEGIN; LOCK TABLE refusal_conflict IN ACCESS EXCLUSIVE MODE; COMMIT;");
                Assert.Equal(1L, await read);
            }
            Assert.True(Reroutes(ds) >= 1, "no read was cancelled by a replay conflict in 5 attempts");
        }
        finally
        {
            foreach (var s in fx.Cluster.Standbys)
                await s.ExecuteAsync("ALTER SYSTEM RESET max_standby_streaming_delay; SELECT pg_reload_conf()");
        }
    }

    private Task WaitUntilStandbyRunsAsync(string text) => StandbyActivity.WaitUntilRunningAsync(fx.Cluster, text);

    [Fact]
    public async Task Forged_causality_token_is_clamped_to_the_primary_position()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        await using var conn = await ds.OpenConnectionAsync("c1.ffffffffffffffff");
        await ds.RefreshStatusAsync(); // a round after the token was presented bounds it
        await ds.RefreshStatusAsync();
        for (var i = 0; i < 5; i++)
            Assert.NotEqual(fx.Cluster.Primary.Port, await ServerPortAsync(conn));
        Assert.Equal(0, ds.GetStatus()["n0"]!.ReadCount);
    }
}
