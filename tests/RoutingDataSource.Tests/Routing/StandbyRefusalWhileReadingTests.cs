using Npgsql;
using RoutingDataSource.Tests.Infrastructure;

namespace RoutingDataSource.Tests.Routing;

/// <summary>
/// README, "Standby refusals": a replay conflict that cancels a read while its reader is open. Npgsql reads the first
/// row inside ExecuteReader, so a cancellation before or at the first row surfaces there, before the caller holds a
/// reader: the read is re-run on the primary. One after rows reached the caller cannot be re-run without handing them
/// out twice: a RoutingException says the results are incomplete. Both provoked on the shared cluster's standbys.
/// </summary>
[Collection("cluster")]
public sealed class StandbyRefusalWhileReadingTests(ClusterFixture fx) : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        await fx.Cluster.Primary.ExecuteAsync("CREATE TABLE IF NOT EXISTS refusal_reader (id int); TRUNCATE refusal_reader; INSERT INTO refusal_reader VALUES (1)");
        await fx.Cluster.WaitForReplicationAsync();
        foreach (var s in fx.Cluster.Standbys)
            await s.ExecuteAsync("ALTER SYSTEM SET max_standby_streaming_delay = 0; SELECT pg_reload_conf()");
    }

    public async Task DisposeAsync()
    {
        foreach (var s in fx.Cluster.Standbys)
            await s.ExecuteAsync("ALTER SYSTEM RESET max_standby_streaming_delay; SELECT pg_reload_conf()");
    }

    private static long Reroutes(PgRoutingDataSource ds) => ds.GetStatus()["n1"]!.RerouteCount + ds.GetStatus()["n2"]!.RerouteCount;

    [Fact]
    public async Task Reader_cancelled_by_a_replay_conflict_before_its_first_row_is_rerun_on_the_primary()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        // Bounded: the lock must be replayed while the standby's read holds its own lock on the table.
        for (var attempt = 0; attempt < 5 && Reroutes(ds) == 0; attempt++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "/* route: standby */ SELECT id, inet_server_port() FROM refusal_reader, pg_sleep(1.5)";
            var open = cmd.ExecuteReaderAsync();
            await WaitUntilStandbyRunsAsync("refusal_reader, pg_sleep");
            // An ACCESS EXCLUSIVE lock is WAL-logged; replaying it cancels the standby's read at once.
            await fx.Cluster.Primary.ExecuteAsync("BEGIN; LOCK TABLE refusal_reader IN ACCESS EXCLUSIVE MODE; COMMIT;");
            await using var reader = await open;
            Assert.True(await reader.ReadAsync());
            Assert.Equal(1, reader.GetInt32(0));
            if (Reroutes(ds) > 0)
            {
                Assert.Equal("n0", reader.BackendName);
                Assert.Equal(fx.Cluster.Primary.Port, reader.GetInt32(1));
            }
            Assert.False(await reader.ReadAsync());
        }
        Assert.True(Reroutes(ds) >= 1, "no read was cancelled by a replay conflict in 5 attempts");
    }

    [Fact]
    public async Task Reader_cancelled_by_a_replay_conflict_after_rows_reached_the_caller_raises_a_clear_error()
    {
        await using var ds = await fx.CreateDataSourceAsync();
        RoutingException? failure = null;
        for (var attempt = 0; attempt < 5 && failure is null; attempt++)
        {
            await using var conn = await ds.OpenConnectionAsync();
            await using var cmd = conn.CreateCommand();
            // Nine rows of 2 kB fill the server's 8 kB output buffer, so they are sent before the tenth sleeps.
            cmd.CommandText = "/* route: standby */ SELECT g, repeat('x', 2000), CASE WHEN g = 10 THEN pg_sleep(1.5) END FROM refusal_reader, generate_series(1, 12) g";
            await using var reader = await cmd.ExecuteReaderAsync();
            Assert.NotEqual("n0", reader.BackendName);
            Assert.True(await reader.ReadAsync()); // a row reached the caller
            await WaitUntilStandbyRunsAsync("refusal_reader, generate_series");
            await fx.Cluster.Primary.ExecuteAsync("BEGIN; LOCK TABLE refusal_reader IN ACCESS EXCLUSIVE MODE; COMMIT;");
            try
            {
                var rows = 1;
                while (await reader.ReadAsync())
                    rows++;
                Assert.Equal(12, rows); // the lock came after the read: it ran to its end
            }
            catch (RoutingException e)
            {
                failure = e;
            }
        }
        Assert.NotNull(failure);
        Assert.Equal(RoutingFailure.RefusedByStandby, failure.Failure);
        Assert.Contains("incomplete", failure.Message, StringComparison.Ordinal);
        var inner = Assert.IsType<PostgresException>(failure.InnerException);
        Assert.Equal("40001", inner.SqlState);
        Assert.Contains("conflict with recovery", inner.MessageText, StringComparison.Ordinal);
    }

    private Task WaitUntilStandbyRunsAsync(string text) => StandbyActivity.WaitUntilRunningAsync(fx.Cluster, text);
}
