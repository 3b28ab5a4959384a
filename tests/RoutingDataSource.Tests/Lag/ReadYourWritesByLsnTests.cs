using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using RoutingDataSource.Routing;
using RoutingDataSource.Testing;
using RoutingDataSource.Tests.Infrastructure;
using Xunit.Abstractions;
using static RoutingDataSource.Tests.Infrastructure.TestDataSources;

namespace RoutingDataSource.Tests.Lag;

/// <summary>
/// Read-your-writes by WAL position, not by probe interval (README, "Replication lag and read-your-writes"): a write's
/// commit position comes back in its own round trip, and a read goes to a standby as soon as that standby has replayed
/// it, behind a guard when that is not known yet.
/// </summary>
public sealed class ReadYourWritesByLsnTests(LagClusterFixture fx, ITestOutputHelper output) : IClassFixture<LagClusterFixture>, IAsyncLifetime
{
    private static long _nextId = 500_000;

    private LocalPgNode N1 => fx.Cluster.Node("n1");

    private LocalPgNode N2 => fx.Cluster.Node("n2");

    public async Task InitializeAsync() => await fx.Cluster.Primary.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS pg_walinspect");

    public Task DisposeAsync() => fx.CatchUpAsync();

    private Task<PgRoutingDataSource> CreateAsync(TimeSpan interval, ReadYourWritesScope scope = ReadYourWritesScope.Connection, TimeSpan? wait = null)
        => TestDataSources.CreateAsync(fx.Cluster, b =>
        {
            b.Options.HealthCheckInterval = interval;
            b.Options.ReadYourWrites = scope;
            if (wait is { } w)
                b.Options.ReadYourWritesWait = w;
        });

    // The end of the commit record of the transaction that wrote row id, read from the primary's WAL.
    private async Task<ulong> CommitRecordEndAsync(long id)
    {
        var xid = await fx.Cluster.Primary.ScalarAsync<string>($"SELECT pad FROM ryw WHERE id = {id}");
        var end = await fx.Cluster.Primary.ScalarAsync<NpgsqlLogSequenceNumber>($"""
            SELECT max(end_lsn) FROM pg_get_wal_records_info(pg_current_wal_flush_lsn() - 4194304, pg_current_wal_flush_lsn())
            WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT' AND xid = {xid}
            """);
        return (ulong)end;
    }

    private static string Insert(long id) => $"INSERT INTO ryw VALUES ({id}, txid_current()::text)";

    [Fact]
    public async Task A_write_position_is_at_or_past_the_end_of_its_commit_record_and_a_position_read_in_its_transaction_is_not()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60));
        await using var conn = await ds.OpenConnectionAsync();
        var cases = new List<(string How, long Id, ulong Position)>();

        var id = Interlocked.Increment(ref _nextId);
        Assert.Equal(1, await NonQueryAsync(conn, Insert(id)));
        cases.Add(("ExecuteNonQuery", id, conn.Session.WriteLsn));

        id = Interlocked.Increment(ref _nextId);
        Assert.Equal(id, await ScalarAsync(conn, Insert(id) + " RETURNING id"));
        cases.Add(("ExecuteScalar ... RETURNING", id, conn.Session.WriteLsn));

        id = Interlocked.Increment(ref _nextId);
        await using (var batch = conn.CreateBatch())
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Insert(id)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE ryw SET pad = pad WHERE id = {id}"));
            Assert.Equal(2, await batch.ExecuteNonQueryAsync());
        }
        cases.Add(("batch", id, conn.Session.WriteLsn));

        id = Interlocked.Increment(ref _nextId);
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await NonQueryAsync(conn, Insert(id));
            await tx.CommitAsync();
        }
        cases.Add(("BeginTransaction ... Commit", id, conn.Session.WriteLsn));

        id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, "BEGIN");
        await NonQueryAsync(conn, Insert(id));
        await NonQueryAsync(conn, "COMMIT");
        cases.Add(("SQL BEGIN ... COMMIT", id, conn.Session.WriteLsn));

        foreach (var (how, written, position) in cases)
        {
            var end = await CommitRecordEndAsync(written);
            output.WriteLine($"{how}: commit record ends at {new NpgsqlLogSequenceNumber(end)}, position {new NpgsqlLogSequenceNumber(position)}");
            Assert.NotEqual(0UL, end);
            Assert.True(position >= end, $"{how}: position {position} before the end of the commit record {end}");
        }

        // Why the barrier: read in the write's own implicit transaction (one batch without barriers) the position comes
        // before the commit record.
        id = Interlocked.Increment(ref _nextId);
        await using var plain = new NpgsqlConnection(fx.Cluster.Primary.ConnectionString);
        await plain.OpenAsync();
        await using var inside = new NpgsqlBatch(plain) { BatchCommands = { new(Insert(id)), new("SELECT pg_current_wal_insert_lsn()") } };
        var early = (ulong)(NpgsqlLogSequenceNumber)(await inside.ExecuteScalarAsync())!;
        Assert.True(early < await CommitRecordEndAsync(id), "a position read inside the write's transaction is before its commit record");
    }

    [Fact]
    public async Task A_positioned_write_keeps_its_parameters_its_errors_and_its_results()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60));
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO ryw VALUES (@id, 'p')";
        var p = cmd.Parameters.AddWithValue("id", Interlocked.Increment(ref _nextId));
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        var first = conn.Session.WriteLsn;
        Assert.NotEqual(0UL, first);
        Assert.Same(p, Assert.Single(cmd.Parameters)); // the caller's parameter objects come back
        p.Value = Interlocked.Increment(ref _nextId);
        Assert.Equal(1, cmd.ExecuteNonQuery()); // the synchronous path too
        Assert.True(conn.Session.WriteLsn > first);

        // The write's own error, as Npgsql reports it; the connection stays usable.
        var e = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.UniqueViolation, e.SqlState);
        Assert.Same(p, Assert.Single(cmd.Parameters));
        cmd.CommandText = "UPDATE ryw SET pad = 'q' WHERE id = @id";
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        cmd.CommandText = "UPDATE ryw SET pad = 'r' WHERE id = -1";
        Assert.Null(await cmd.ExecuteScalarAsync()); // no result of its own: null, not the position
    }

    [Fact]
    public async Task A_read_100_ms_after_a_write_is_served_by_a_standby_and_sees_the_write()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(1));
        await using var conn = await ds.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT count(*), inet_server_port() FROM ryw WHERE id = @id";
        var p = cmd.Parameters.AddWithValue("id", 0L);
        for (var i = 0; i < 3; i++)
        {
            var id = Interlocked.Increment(ref _nextId);
            await NonQueryAsync(conn, Insert(id));
            await Task.Delay(100);
            p.Value = id;
            await using var reader = await cmd.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            output.WriteLine($"write {i}: read on {reader.BackendName}, saw {reader.GetInt64(0)} row");
            Assert.Equal(1L, reader.GetInt64(0));
            Assert.NotEqual(fx.Cluster.Primary.Port, reader.GetInt32(1));
            Assert.Equal("SELECT count(*), inet_server_port() FROM ryw WHERE id = @id", cmd.CommandText); // the guard is the library's own
        }
        var s = ds.GetStatus();
        output.WriteLine($"guard hits n1={s["n1"]!.GuardHits} n2={s["n2"]!.GuardHits}, misses {s["n1"]!.GuardMisses + s["n2"]!.GuardMisses}, primary reads {s["n0"]!.ReadCount}");
        Assert.Equal(0, s["n0"]!.ReadCount);
    }

    [Fact]
    public async Task A_read_with_positional_parameters_after_a_write_runs_behind_the_guard_as_a_batch_of_two()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60));
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, Insert(id));
        // Replayed everywhere, but no probe has seen it (60 s interval): only the guard can tell.
        await fx.Cluster.WaitForReplicationAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM ryw WHERE id = $1 AND inet_server_port() <> $2";
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = fx.Cluster.Primary.Port });
        Assert.Equal(1L, await cmd.ExecuteScalarAsync()); // 0 on the primary: it ran on a standby, and saw the write
        Assert.Equal(2, cmd.Parameters.Count);
        var s = ds.GetStatus();
        Assert.Equal(1, s["n1"]!.GuardHits + s["n2"]!.GuardHits);
        Assert.Equal(1L, await cmd.ExecuteScalarAsync()); // proven by the guard: no guard the second time
        Assert.Equal(1, ds.GetStatus()["n1"]!.GuardHits + ds.GetStatus()["n2"]!.GuardHits);
    }

    [Fact]
    public async Task A_guarded_reader_may_outlive_its_disposed_command()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60));
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, Insert(id));
        await fx.Cluster.WaitForReplicationAsync();
        var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT count(*) FROM ryw WHERE id = {id}";
        var reader = await cmd.ExecuteReaderAsync();
        await cmd.DisposeAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(1L, reader.GetInt64(0));
        Assert.NotEqual("n0", reader.BackendName);
        await reader.DisposeAsync();
        Assert.Equal(1, ds.GetStatus()["n1"]!.GuardHits + ds.GetStatus()["n2"]!.GuardHits);
    }

    [Fact]
    public async Task A_guarded_read_on_a_standby_that_has_not_replayed_returns_the_rows_from_the_primary_and_never_runs_there()
    {
        // No probe after the warm-up: the data source cannot know that replay is paused; only the guard can tell.
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60));
        await N1.PauseReplayAsync();
        await N2.PauseReplayAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, Insert(id));
        await Task.Delay(50); // older than every standby's replay-delay estimate: worth a guarded attempt
        // Run on a standby, this read fails (division by zero): that it returns proves it ran only on the primary.
        var seen = await ScalarAsync(conn, $"/* route: standby */ SELECT count(*) FROM ryw WHERE id = {id} AND 1 / (NOT pg_is_in_recovery())::int = 1");
        var s = ds.GetStatus();
        output.WriteLine($"read saw {seen}; guard misses n1={s["n1"]!.GuardMisses} n2={s["n2"]!.GuardMisses}; reads n0={s["n0"]!.ReadCount} n1={s["n1"]!.ReadCount} n2={s["n2"]!.ReadCount}");
        Assert.Equal(1L, seen);
        Assert.Equal(1, s["n1"]!.GuardMisses + s["n2"]!.GuardMisses);
        Assert.Equal(1, s["n0"]!.ReadCount);
        Assert.Equal(0, s["n1"]!.ReadCount + s["n2"]!.ReadCount);
        // The miss taught that standby's estimate: at least the age of the write it missed (50 ms and the guard's wait).
        var missed = s["n1"]!.GuardMisses == 1 ? s["n1"]! : s["n2"]!;
        Assert.True(missed.ReplayDelayEstimate >= TimeSpan.FromMilliseconds(50), $"estimate {missed.ReplayDelayEstimate}");
        for (var i = 0; i < 3; i++)
            Assert.Equal(1L, await ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var after = ds.GetStatus();
        output.WriteLine($"after 3 more reads: guard misses n1={after["n1"]!.GuardMisses} n2={after["n2"]!.GuardMisses}, estimates {after["n1"]!.ReplayDelayEstimate} / {after["n2"]!.ReplayDelayEstimate}");
        Assert.Equal(4, after["n0"]!.ReadCount);
        Assert.Equal(0, after["n1"]!.ReadCount + after["n2"]!.ReadCount);
    }

    [Fact]
    public async Task A_guarded_read_right_after_a_write_waits_on_the_standby_until_it_replays_and_runs_there()
    {
        // No probe after the warm-up: the data source cannot know that replay is paused; the guard waits it out.
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60), wait: TimeSpan.FromSeconds(60));
        await N1.PauseReplayAsync();
        await N2.PauseReplayAsync();
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, Insert(id));
        var read = ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}");
        // The guard sleeps on one standby, in the read's own round trip, until replay goes on.
        const string sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO $rds_guard$%' AND wait_event = 'PgSleep'";
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (await N1.ScalarAsync<long>(sleeping, cts.Token) + await N2.ScalarAsync<long>(sleeping, cts.Token) == 0)
                await Task.Delay(20, cts.Token);
        }
        Assert.False(read.IsCompleted);
        await N1.ResumeReplayAsync();
        await N2.ResumeReplayAsync();
        Assert.Equal(1L, await read);
        var s = ds.GetStatus();
        Assert.Equal(0, s["n0"]!.ReadCount);
        Assert.Equal(1, s["n1"]!.ReadCount + s["n2"]!.ReadCount);
        Assert.Equal(1, s["n1"]!.GuardHits + s["n2"]!.GuardHits);
        Assert.Equal(0, s["n1"]!.GuardMisses + s["n2"]!.GuardMisses);
    }

    [Fact]
    public async Task A_catalog_read_behind_a_guard_that_waited_through_a_REINDEX_CONCURRENTLY_sees_the_new_index()
    {
        var table = "ryw_reindex_" + Guid.NewGuid().ToString("N")[..8];
        await fx.Cluster.Primary.ExecuteAsync($"CREATE TABLE {table} (c1 int)");
        await fx.Cluster.Primary.ExecuteAsync($"CREATE UNIQUE INDEX {table}_expr ON {table} ((c1::text COLLATE \"C\"))");
        await fx.Cluster.WaitForReplicationAsync();
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60), wait: TimeSpan.FromSeconds(60));
        await using var conn = await ds.OpenConnectionAsync();
        // A standby session the connection keeps (the SET lives there), which looks the index up once.
        await NonQueryAsync(conn, "SET app.ryw_reindex = 'on'");
        var definition = $"SELECT pg_is_in_recovery(), pg_get_indexdef('{table}_expr'::regclass)";
        var before = (string)(await RowAsync(conn, definition))[1]!;
        await N1.PauseReplayAsync();
        await N2.PauseReplayAsync();
        try
        {
            await NonQueryAsync(conn, $"REINDEX TABLE CONCURRENTLY {table}");
            // The guard waits on that session, in one implicit transaction with the read, while the swap replays.
            var read = RowAsync(conn, definition);
            const string sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO $rds_guard$%' AND wait_event = 'PgSleep'";
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                while (await N1.ScalarAsync<long>(sleeping, cts.Token) + await N2.ScalarAsync<long>(sleeping, cts.Token) == 0)
                    await Task.Delay(20, cts.Token);
            }
            await N1.ResumeReplayAsync();
            await N2.ResumeReplayAsync();
            var row = await read; // before the guard took in the replayed invalidations: XX000 cache lookup failed
            Assert.Equal(true, row[0]);
            Assert.Equal(before, row[1]);
        }
        finally
        {
            await N1.ResumeReplayAsync();
            await N2.ResumeReplayAsync();
        }
    }

    [Fact]
    public async Task A_read_whose_standbys_are_estimated_to_replay_later_than_the_wait_goes_to_the_primary_at_once()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60), wait: TimeSpan.FromSeconds(10));
        // Both standbys were seen far behind (estimate 30 s, more than the wait): not worth a guard, nor a poll.
        foreach (var n in ds.Monitor.Current.Nodes.Where(n => n.Role == BackendRole.Standby))
            n.Backend.Replay.Miss(TimeSpan.FromHours(1));
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        await NonQueryAsync(conn, Insert(id));
        Assert.Equal(1L, await ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var s = ds.GetStatus();
        // Polled from the client for up to 10 s, a standby (replaying normally) would have served it.
        Assert.Equal(1, s["n0"]!.ReadCount);
        Assert.Equal(0, s["n1"]!.ReadCount + s["n2"]!.ReadCount);
        Assert.Equal(0, s["n1"]!.GuardHits + s["n2"]!.GuardHits);
        Assert.Equal(2, s["n1"]!.GuardMisses + s["n2"]!.GuardMisses); // only the two that set the estimates
    }

    [Fact]
    public async Task DataSource_scope_a_new_connection_reads_another_ones_write_on_a_standby_right_after_it()
    {
        await using var ds = await CreateAsync(TimeSpan.FromSeconds(60), ReadYourWritesScope.DataSource);
        var id = Interlocked.Increment(ref _nextId);
        await using (var writer = await ds.OpenConnectionAsync())
            await NonQueryAsync(writer, Insert(id));
        await Task.Delay(100);
        await using var reader = await ds.OpenConnectionAsync();
        Assert.Equal(1L, await ScalarAsync(reader, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var s = ds.GetStatus();
        Assert.Equal(0, s["n0"]!.ReadCount);
        Assert.Equal(1, s["n1"]!.GuardHits + s["n2"]!.GuardHits); // no probe since the write: the guard proved it
    }

    [Fact]
    public async Task A_data_source_of_one_backend_reads_no_commit_position_yet_its_causality_token_covers_the_write()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", fx.Cluster.Primary.ConnectionString);
        b.Options.HealthCheckInterval = TimeSpan.FromSeconds(60);
        await using var ds = b.Build();
        await TestDataSources.WarmUpAsync(ds);
        await using var conn = await ds.OpenConnectionAsync();
        var id = Interlocked.Increment(ref _nextId);
        Assert.Equal(1, await NonQueryAsync(conn, Insert(id)));
        Assert.Equal(0UL, conn.Session.WriteLsn); // no standby could read after it: no position statement ran
        Assert.NotEqual(0L, conn.Session.LastWrite);
        var token = await conn.GetCausalityTokenAsync();
        Assert.True(CausalityToken.Parse(token) >= await CommitRecordEndAsync(id));
        Assert.Equal(1L, await ScalarAsync(conn, $"SELECT count(*) FROM ryw WHERE id = {id}"));
    }

    [Fact]
    public async Task A_causality_token_carries_the_commit_position_and_costs_no_round_trip()
    {
        await using var writerDs = await CreateAsync(TimeSpan.FromSeconds(60));
        await using var readerDs = await CreateAsync(TimeSpan.FromSeconds(1), ReadYourWritesScope.None);
        await N1.PauseReplayAsync();
        await N2.PauseReplayAsync();
        var id = Interlocked.Increment(ref _nextId);
        string token;
        ulong position;
        await using (var w = await writerDs.OpenConnectionAsync())
        {
            await NonQueryAsync(w, Insert(id));
            position = w.Session.WriteLsn;
            var reads = writerDs.GetStatus()["n0"]!.ReadCount + writerDs.GetStatus()["n0"]!.WriteCount;
            token = await w.GetCausalityTokenAsync();
            Assert.Equal(reads, writerDs.GetStatus()["n0"]!.ReadCount + writerDs.GetStatus()["n0"]!.WriteCount);
        }
        Assert.Equal(CausalityToken.Format(position), token);
        Assert.True(position >= await CommitRecordEndAsync(id));
        await readerDs.RefreshStatusAsync();
        await using (var withToken = await readerDs.OpenConnectionAsync(token))
        {
            await readerDs.RefreshStatusAsync(); // a round after the token bounds it
            Assert.Equal(1L, await ScalarAsync(withToken, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        }
        await N1.ResumeReplayAsync();
        await N2.ResumeReplayAsync();
        await fx.Cluster.WaitForReplicationAsync();
        await readerDs.RefreshStatusAsync();
        await using (var withToken = await readerDs.OpenConnectionAsync(token))
            Assert.Equal(1L, await ScalarAsync(withToken, $"SELECT count(*) FROM ryw WHERE id = {id}"));
        var s = readerDs.GetStatus();
        output.WriteLine($"token {token}: reads n0={s["n0"]!.ReadCount} n1={s["n1"]!.ReadCount} n2={s["n2"]!.ReadCount}");
        Assert.Equal(1, s["n0"]!.ReadCount); // paused standbys: the primary; replayed: a standby
    }
}
