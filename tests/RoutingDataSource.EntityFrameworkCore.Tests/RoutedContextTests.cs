using System.Data;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RoutingDataSource.EntityFrameworkCore.Tests;

/// <summary>One context, routed per command: what runs where, as the servers saw it.</summary>
[Collection("ef-cluster")]
public sealed class RoutedContextTests(EfClusterFixture fixture)
{
    private static readonly TimeSpan TestBudget = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Linq_queries_run_on_the_standbys_and_never_open_a_primary_connection()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var marker = $"q-{Guid.NewGuid():N}";
        var primaryReads = fixture.Reads("n0");
        var standbyReads = fixture.Reads("n1") + fixture.Reads("n2");
        await using var ctx = fixture.CreateContext();

        var ports = new HashSet<int>();
        for (var i = 0; i < 6; i++)
            ports.Add(await ctx.Notes.TagWith(marker).Select(n => NotesContext.ServerPort()).FirstAsync(cts.Token));
        Assert.True(await ctx.Notes.TagWith(marker).Select(n => NotesContext.InRecovery()).FirstAsync(cts.Token));
        _ = await ctx.Notes.TagWith(marker).Where(n => n.Text.StartsWith("seed")).ToListAsync(cts.Token);
        _ = await ctx.Notes.TagWith(marker).AsSplitQuery().CountAsync(cts.Token);

        Assert.Subset(fixture.StandbyPorts.ToHashSet(), ports);
        Assert.Equal(2, ports.Count); // weighted round robin over both standbys
        Assert.Equal(["n1", "n2"], fixture.NodesThatLogged(marker).Order());
        Assert.Equal(ConnectionState.Closed, ctx.Database.GetDbConnection().State);
        Assert.Equal(primaryReads, fixture.Reads("n0"));
        Assert.Equal(standbyReads + 9, fixture.Reads("n1") + fixture.Reads("n2"));
    }

    [Fact]
    public async Task SaveChanges_runs_on_the_primary_and_the_next_query_sees_the_row_while_standbys_replay_nothing()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"saved-{Guid.NewGuid():N}";
        await using var ctx = fixture.CreateContext();
        _ = await ctx.Notes.CountAsync(cts.Token); // a read first: the context is on a standby for reads
        await using (await fixture.PauseReplayAsync(cts.Token))
        {
            var writes = fixture.Writes("n0");
            ctx.Notes.Add(new Note { Text = text });
            Assert.Equal(1, await ctx.SaveChangesAsync(cts.Token));
            Assert.Equal(writes + 1, fixture.Writes("n0"));
            Assert.Equal(1L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" = '{text}'", cts.Token));

            // Read-your-writes: no standby has replayed the insert, so the query that follows goes to the primary.
            ctx.ChangeTracker.Clear();
            var note = await ctx.Notes.TagWith(text).SingleAsync(n => n.Text == text, cts.Token);
            Assert.Equal(text, note.Text);
            Assert.Equal(["n0"], fixture.NodesThatLogged($"-- {text}"));

            // Another context has written nothing: it reads on a standby, which does not have the row yet.
            await using var other = fixture.CreateContext();
            Assert.False(await other.Notes.AnyAsync(n => n.Text == text, cts.Token));
            Assert.Contains(await other.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        }
    }

    [Fact]
    public async Task SaveChanges_and_ExecuteUpdate_bring_back_their_commit_position_and_the_next_query_runs_on_a_standby_behind_the_guard()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"lsn-{Guid.NewGuid():N}";
        // Probes a minute apart: the data source never learns from them that the standbys replayed the writes, so a
        // standby serves the reads only behind the guard, which needs each write's own commit position.
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        b.Options.HealthCheckInterval = TimeSpan.FromMinutes(1);
        await using var ds = b.Build();
        await ds.RefreshStatusAsync(cts.Token);
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options);
        var session = RoutingSession.Of(ctx)!;

        var writes = new (string How, Func<Task> Write, string Reads)[]
        {
            ("SaveChanges of one entity (a write read through a reader)", async () =>
            {
                ctx.Notes.Add(new Note { Text = text + "-1" });
                await ctx.SaveChangesAsync(cts.Token);
            }, text + "-1"),
            ("SaveChanges of two (an EF transaction)", async () =>
            {
                ctx.Notes.AddRange(new Note { Text = text + "-2" }, new Note { Text = text + "-2" });
                await ctx.SaveChangesAsync(cts.Token);
            }, text + "-2"),
            ("ExecuteUpdate", async () => await ctx.Notes.Where(n => n.Text == text + "-1").ExecuteUpdateAsync(u => u.SetProperty(n => n.Text, text + "-3"), cts.Token), text + "-3"),
        };
        foreach (var (how, write, reads) in writes)
        {
            var before = (ulong)await fixture.Cluster.Primary.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_insert_lsn()", cts.Token);
            await write();
            var position = session.Connection.Session.WriteLsn;
            Assert.True(position > before, $"{how}: commit position {position:X}, insert position before it {before:X}");
            await fixture.Cluster.WaitForReplicationAsync(cancellationToken: cts.Token);
            ctx.ChangeTracker.Clear();
            var ports = await ctx.Notes.Where(n => n.Text == reads).Select(n => NotesContext.ServerPort()).ToListAsync(cts.Token);
            Assert.NotEmpty(ports);
            Assert.All(ports, p => Assert.Contains(p, fixture.StandbyPorts));
        }
        var status = ds.GetStatus();
        Assert.Equal(3, status["n1"]!.GuardHits + status["n2"]!.GuardHits);
        Assert.Equal(0, status["n0"]!.ReadCount);
    }

    [Fact]
    public async Task Causality_token_makes_another_context_see_the_write()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"token-{Guid.NewGuid():N}";
        string token;
        await using (var writer = fixture.CreateContext())
        {
            writer.Notes.Add(new Note { Text = text });
            await writer.SaveChangesAsync(cts.Token);
            token = await writer.Database.GetCausalityTokenAsync(cts.Token);
        }
        await using (await fixture.PauseReplayAsync(cts.Token))
        {
            await using var reader = fixture.CreateContext();
            reader.Database.UseCausalityToken(token);
            Assert.True(await reader.Notes.AnyAsync(n => n.Text == text, cts.Token));
        }
    }

    [Fact]
    public async Task ExecuteUpdate_ExecuteDelete_and_raw_writes_run_on_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"bulk-{Guid.NewGuid():N}";
        await using var ctx = fixture.CreateContext();
        ctx.Notes.AddRange(new Note { Text = text }, new Note { Text = text });
        await ctx.SaveChangesAsync(cts.Token); // two inserts: one EF transaction on the context's connection
        var writes = fixture.Writes("n0");

        Assert.Equal(2, await ctx.Notes.Where(n => n.Text == text).ExecuteUpdateAsync(u => u.SetProperty(n => n.Text, text + "-u"), cts.Token));
        Assert.Equal(1, await ctx.Database.ExecuteSqlAsync($"INSERT INTO \"Notes\" (\"Text\") VALUES ({text + "-u"})", cts.Token));
        Assert.Equal(3, await ctx.Notes.Where(n => n.Text == text + "-u").CountAsync(cts.Token));
        Assert.Equal(3, await ctx.Notes.Where(n => n.Text == text + "-u").ExecuteDeleteAsync(cts.Token));

        Assert.Equal(writes + 3, fixture.Writes("n0"));
        Assert.Equal(0L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" LIKE '{text}%'", cts.Token));
    }

    [Fact]
    public async Task Queries_are_buffered_only_inside_a_unit_of_work_which_alone_is_the_strategys_current_operation_and_a_transaction_outside_one_is_still_refused()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var probe = new ClosedReaderProbe();
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>(fixture.Options).AddInterceptors(probe).Options);

        // Outside a unit of work EF streams the rows from the standby's reader: a read that fails before its first
        // row is re-run by the library, one that fails later reaches the caller.
        // Such a query's first attempt does not become ExecutionStrategy.Current (an AsyncLocal: an execution context
        // of its own per query); SaveChanges and a unit of work do, as in EF's own loop.
        _ = await ctx.Notes.ToListAsync(cts.Token);
        Assert.Equal(typeof(NpgsqlDataReader), probe.LastClosed);
        Assert.False(probe.InOperation);

        // Inside one (which may run again as a whole) EF buffers them, as under its own retrying strategies.
        await ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () => await ctx.Notes.ToListAsync(cts.Token));
        Assert.NotEqual(typeof(NpgsqlDataReader), probe.LastClosed);
        Assert.True(probe.InOperation);
        ctx.Notes.Add(new Note { Text = $"buffered-{Guid.NewGuid():N}" });
        await ctx.SaveChangesAsync(cts.Token);
        Assert.True(probe.InOperation);
        _ = ctx.Notes.AsNoTracking().ToList();
        Assert.False(probe.InOperation);

        // EF's own check still holds: a transaction of the application's must be inside the strategy's ExecuteAsync.
        await using var tx = await ctx.Database.BeginTransactionAsync(cts.Token);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ctx.Notes.ToListAsync(cts.Token));
        Assert.Contains(nameof(RoutingExecutionStrategy), e.Message);
    }

    private sealed class ClosedReaderProbe : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        public Type? LastClosed { get; private set; }

        // Whether the last reader was executed inside an operation of the execution strategy.
        public bool InOperation { get; private set; }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result,
            CancellationToken cancellationToken = default)
        {
            InOperation = Microsoft.EntityFrameworkCore.Storage.ExecutionStrategy.Current is RoutingExecutionStrategy;
            return new(result);
        }

        public override Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> ReaderExecuting(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result)
        {
            InOperation = Microsoft.EntityFrameworkCore.Storage.ExecutionStrategy.Current is RoutingExecutionStrategy;
            return result;
        }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult> DataReaderClosingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.DataReaderClosingEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result)
        {
            LastClosed = eventData.DataReader.GetType();
            return new(result);
        }
    }

    [Fact]
    public async Task EF_command_logging_and_an_applications_command_interceptor_see_routed_commands_as_EFs_own()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"seen-{Guid.NewGuid():N}";
        var probe = new CommandProbe();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>(fixture.Options).AddInterceptors(probe)
            .LogTo(log.Enqueue, [DbLoggerCategory.Database.Command.Name], Microsoft.Extensions.Logging.LogLevel.Information).Options);

        var port = await ctx.ServerPortAsync(cts.Token);
        Assert.Equal(1, await ctx.Database.ExecuteSqlAsync($"INSERT INTO \"Notes\" (\"Text\") VALUES ({text})", cts.Token));
        Assert.Equal(1, ctx.Database.ExecuteSql($"DELETE FROM \"Notes\" WHERE \"Text\" = {text}"));

        Assert.Contains(port, fixture.StandbyPorts); // still routed
        Assert.Equal((1, 1, 2, 2, 1), (probe.ReadersExecuting, probe.ReadersExecuted, probe.NonQueriesExecuting, probe.NonQueriesExecuted, probe.ReadersClosing));
        var executed = log.Where(l => l.Contains("Executed DbCommand", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, executed.Count);
        Assert.Contains(executed, l => l.Contains("inet_server_port()", StringComparison.Ordinal));
        Assert.Equal(2, executed.Count(l => l.Contains("\"Notes\"", StringComparison.Ordinal) && !l.Contains("SELECT", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_query_failing_while_EF_buffers_its_rows_is_not_logged_as_a_command_failure_as_in_EF()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var probe = new CommandProbe();
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>(fixture.Options).AddInterceptors(probe).Options);

        // Inside a unit of work EF buffers the rows; the third one fails (division by zero). EF logs the command as
        // executed and nothing more: the failure is the query's, reported by EF's query logging.
        var e = await Assert.ThrowsAsync<PostgresException>(() => ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            await ctx.Database.SqlQueryRaw<int>("SELECT 10 / (3 - g) AS \"Value\" FROM generate_series(1, 5) g").ToListAsync(cts.Token)));
        Assert.Equal(PostgresErrorCodes.DivisionByZero, e.SqlState);
        Assert.Equal((1, 1, 0), (probe.ReadersExecuting, probe.ReadersExecuted, probe.CommandsFailed));
    }

    private sealed class CommandProbe : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        public int ReadersExecuting { get; private set; }
        public int ReadersExecuted { get; private set; }
        public int NonQueriesExecuting { get; private set; }
        public int NonQueriesExecuted { get; private set; }
        public int ReadersClosing { get; private set; }

        // CommandError events (EF's command failures), sync or async.
        public int CommandsFailed => _failed;

        private int _failed;

        public override Task CommandFailedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandErrorEventData eventData,
            CancellationToken cancellationToken = default)
        {
            _failed++;
            return Task.CompletedTask;
        }

        public override void CommandFailed(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandErrorEventData eventData) => _failed++;

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result,
            CancellationToken cancellationToken = default)
        {
            ReadersExecuting++;
            return new(result);
        }

        public override ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData,
            System.Data.Common.DbDataReader result, CancellationToken cancellationToken = default)
        {
            ReadersExecuted++;
            Assert.IsType<NpgsqlDataReader>(result);
            return new(result);
        }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> NonQueryExecutingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            NonQueriesExecuting++;
            return new(result);
        }

        public override Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> NonQueryExecuting(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result)
        {
            NonQueriesExecuting++;
            return result;
        }

        public override ValueTask<int> NonQueryExecutedAsync(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, int result,
            CancellationToken cancellationToken = default)
        {
            NonQueriesExecuted++;
            return new(result);
        }

        public override int NonQueryExecuted(System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, int result)
        {
            NonQueriesExecuted++;
            return result;
        }

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult> DataReaderClosingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.DataReaderClosingEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result)
        {
            ReadersClosing++;
            return new(result);
        }
    }

    [Fact]
    public async Task Every_command_of_a_transaction_runs_on_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"tx-{Guid.NewGuid():N}";
        await using var ctx = fixture.CreateContext();
        var strategy = ctx.Database.CreateExecutionStrategy();
        var ports = await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await ctx.Database.BeginTransactionAsync(cts.Token);
            var seen = new List<int> { await ctx.ServerPortAsync(cts.Token) };
            ctx.Notes.Add(new Note { Text = text });
            await ctx.SaveChangesAsync(cts.Token);
            seen.Add(await ctx.Notes.Where(n => n.Text == text).Select(n => NotesContext.ServerPort()).SingleAsync(cts.Token)); // its own uncommitted row
            seen.Add(await ctx.RawServerPortAsync(cts.Token));
            await tx.CommitAsync(cts.Token);
            return seen;
        });

        Assert.All(ports, p => Assert.Equal(fixture.Cluster.Primary.Port, p));
        Assert.Equal(1L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" = '{text}'", cts.Token));
        // After the transaction (once its write is replicated: read-your-writes), reads are routed again.
        await fixture.SettleAsync(cts.Token);
        Assert.Contains(await ctx.ServerPortAsync(cts.Token), fixture.StandbyPorts);
    }

    [Fact]
    public async Task Read_only_transaction_runs_every_statement_on_one_standby_and_refuses_writes()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var ctx = fixture.CreateContext();
        var strategy = ctx.Database.CreateExecutionStrategy();
        var (ports, failure) = await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await ctx.Database.BeginReadOnlyTransactionAsync(cancellationToken: cts.Token);
            var seen = new List<int>();
            for (var i = 0; i < 4; i++)
                seen.Add(await ctx.ServerPortAsync(cts.Token));
            seen.Add(await ctx.RawServerPortAsync(cts.Token));
            var e = await Assert.ThrowsAsync<PostgresException>(() => ctx.Database.ExecuteSqlAsync($"INSERT INTO \"Notes\" (\"Text\") VALUES ('ro')", cts.Token));
            return (seen, e);
        });

        Assert.Single(ports.Distinct());
        Assert.Contains(ports[0], fixture.StandbyPorts);
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, failure.SqlState);
        // Afterwards the context writes on the primary again (its connection moves back from the standby).
        ctx.Notes.Add(new Note { Text = $"after-ro-{Guid.NewGuid():N}" });
        Assert.Equal(1, await ctx.SaveChangesAsync(cts.Token));
        await strategy.ExecuteAsync(async () =>
        {
            await using var tx = await ctx.Database.BeginTransactionAsync(cts.Token);
            Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
        });
    }

    [Fact]
    public async Task Read_only_transaction_on_the_primary_fallback_is_read_only_there()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var ds = await EfClusterFixture.CreateDataSourceAsync(fixture.Cluster, cts.Token);
        ds.DetachBackend("n1");
        ds.DetachBackend("n2");
        await ds.RefreshStatusAsync(cts.Token);
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options);
        var failure = await ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            await using var tx = await ctx.Database.BeginReadOnlyTransactionAsync(cancellationToken: cts.Token);
            Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
            return await Assert.ThrowsAsync<PostgresException>(() => ctx.Database.ExecuteSqlAsync($"INSERT INTO \"Notes\" (\"Text\") VALUES ('ro')", cts.Token));
        });
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, failure.SqlState);
    }

    [Fact]
    public async Task OnPrimary_and_the_route_tag_send_a_query_to_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var ctx = fixture.CreateContext();
        Assert.Equal(fixture.Cluster.Primary.Port, await ctx.Notes.OnPrimary().Select(n => NotesContext.ServerPort()).FirstAsync(cts.Token));
        Assert.Equal(fixture.Cluster.Primary.Port, await ctx.Notes.TagWith("route: primary").Select(n => NotesContext.ServerPort()).FirstAsync(cts.Token));
        Assert.Contains(await ctx.ServerPortAsync(cts.Token), fixture.StandbyPorts);
    }

    [Fact]
    public async Task Session_state_set_through_the_context_travels_with_its_later_queries_to_a_standby_as_on_a_routing_connection()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        await using var ctx = fixture.CreateContext();
        await ctx.Database.ExecuteSqlRawAsync("SET application_name = 'ef-routed'", cts.Token);
        await fixture.SettleAsync(cts.Token);
        // The library replays a session's SET on the standby session that serves its reads (README, "Session state");
        // so does the context: the query sees the setting and runs on a standby.
        Assert.Equal("ef-routed", await AppNameAsync(ctx, cts.Token));
        Assert.NotEqual(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
        await using var plain = await fixture.DataSource.OpenConnectionAsync(cts.Token);
        await using (var set = plain.CreateCommand())
        {
            set.CommandText = "SET application_name = 'plain'";
            await set.ExecuteNonQueryAsync(cts.Token);
        }
        await using var read = plain.CreateCommand();
        read.CommandText = "SELECT inet_server_port(), current_setting('application_name')";
        await using var reader = await read.ExecuteReaderAsync(cts.Token);
        Assert.True(await reader.ReadAsync(cts.Token));
        Assert.NotEqual(fixture.Cluster.Primary.Port, reader.GetInt32(0));
        Assert.Equal("plain", reader.GetString(1));
    }

    [Fact]
    public async Task Pooled_contexts_start_each_lease_without_the_previous_routing_state()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var services = new ServiceCollection();
        services.AddSingleton(fixture.DataSource); // not disposed by the container: the fixture owns it
        services.AddDbContextPool<NotesContext>((sp, o) => o.UseRoutingDataSource(sp), poolSize: 1);
        await using var sp = services.BuildServiceProvider();

        NotesContext first;
        await using (var scope = sp.CreateAsyncScope())
        {
            first = scope.ServiceProvider.GetRequiredService<NotesContext>();
            await first.Database.ExecuteSqlRawAsync("SET application_name = 'first-lease'", cts.Token);
            Assert.Equal("first-lease", await AppNameAsync(first, cts.Token));
            first.Notes.Add(new Note { Text = $"pool-{Guid.NewGuid():N}" });
            await first.SaveChangesAsync(cts.Token);
        }
        await using (var scope = sp.CreateAsyncScope())
        {
            var second = scope.ServiceProvider.GetRequiredService<NotesContext>();
            Assert.Same(first, second);
            await fixture.SettleAsync(cts.Token);
            Assert.NotEqual("first-lease", await AppNameAsync(second, cts.Token));
            Assert.Contains(await second.ServerPortAsync(cts.Token), fixture.StandbyPorts);
            Assert.Equal(ConnectionState.Closed, second.Database.GetDbConnection().State);
        }
    }

    [Fact]
    public async Task Migrations_run_on_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var options = new DbContextOptionsBuilder<GadgetsContext>()
            .UseRoutingDataSource(fixture.DataSource)
            .ConfigureWarnings(w => w.Ignore(Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.PendingModelChangesWarning))
            .Options;
        await using var ctx = new GadgetsContext(options);
        await ctx.Database.MigrateAsync(cts.Token);

        Assert.Equal(["20261202000000_Gadgets"], await ctx.Database.GetAppliedMigrationsAsync(cts.Token));
        Assert.Equal(1L, await fixture.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM \"Gadgets\"", cts.Token));
        Assert.Empty(await ctx.Database.GetPendingMigrationsAsync(cts.Token));
        Assert.Equal(1, await ctx.Gadgets.CountAsync(cts.Token));
    }

    [Fact]
    public async Task A_migration_that_creates_an_enum_reloads_types_on_the_primary()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var options = new DbContextOptionsBuilder<MoodsContext>()
            .UseRoutingDataSource(fixture.DataSource, o => o.MigrationsHistoryTable("__moods_history"))
            .ConfigureWarnings(w => w.Ignore(Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.PendingModelChangesWarning))
            .Options;
        await using var ctx = new MoodsContext(options);
        await ctx.Database.MigrateAsync(cts.Token); // the provider's ReloadTypes needs the context's connection open

        Assert.Equal(1L, await fixture.Cluster.Primary.ScalarAsync<long>("SELECT count(*) FROM pg_type WHERE typname = 'mood'", cts.Token));
        Assert.Equal(System.Data.ConnectionState.Closed, ctx.Database.GetDbConnection().State);
    }

    [Fact]
    public async Task Registrations_AddDbContext_AddDbContextFactory_and_a_keyed_data_source()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var services = new ServiceCollection();
        services.AddKeyedSingleton("notes", fixture.DataSource);
        services.AddDbContextFactory<NotesContext>((sp, o) => o.UseRoutingDataSource(sp, serviceKey: "notes"));
        await using var sp = services.BuildServiceProvider();

        var factory = sp.GetRequiredService<IDbContextFactory<NotesContext>>();
        await using (var ctx = await factory.CreateDbContextAsync(cts.Token))
        {
            Assert.Contains(await ctx.ServerPortAsync(cts.Token), fixture.StandbyPorts);
            ctx.Notes.Add(new Note { Text = $"factory-{Guid.NewGuid():N}" });
            Assert.Equal(1, await ctx.SaveChangesAsync(cts.Token));
            Assert.IsType<RoutingExecutionStrategy>(ctx.Database.CreateExecutionStrategy());
        }
        await using (var scope = sp.CreateAsyncScope())
        {
            var scoped = scope.ServiceProvider.GetRequiredService<NotesContext>(); // AddDbContextFactory registers the context too
            Assert.Contains(await scoped.ServerPortAsync(cts.Token), fixture.StandbyPorts);
        }
    }

    [Fact]
    public async Task A_failure_on_COMMIT_is_not_run_again()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var text = $"commit-{Guid.NewGuid():N}";
        await using var ctx = fixture.CreateContext();
        var attempts = 0;
        var e = await Assert.ThrowsAnyAsync<Exception>(() => ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            attempts++;
            await using var tx = await ctx.Database.BeginTransactionAsync(cts.Token);
            ctx.Notes.Add(new Note { Text = text });
            await ctx.SaveChangesAsync(cts.Token);
            var pid = await ctx.Database.SqlQuery<int>($"SELECT pg_backend_pid() AS \"Value\"").SingleAsync(cts.Token);
            // The server session holding the transaction dies before COMMIT reaches it: the client cannot tell.
            await fixture.Cluster.Primary.ExecuteAsync($"SELECT pg_terminate_backend({pid})", cts.Token);
            await tx.CommitAsync(cts.Token);
        }));

        Assert.Equal(1, attempts);
        Assert.True(e is NpgsqlException or InvalidOperationException, e.ToString());
        Assert.Equal(0L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" = '{text}'", cts.Token));
    }

    [Fact]
    public async Task Synchronous_API_routes_the_same_way()
    {
        var text = $"sync-{Guid.NewGuid():N}";
        using var ctx = fixture.CreateContext();
        Assert.Contains(ctx.Notes.Select(n => NotesContext.ServerPort()).First(), fixture.StandbyPorts);
        ctx.Notes.Add(new Note { Text = text });
        Assert.Equal(1, ctx.SaveChanges());
        ctx.ChangeTracker.Clear();
        Assert.Single(ctx.Notes.Where(n => n.Text == text).ToList()); // read-your-writes
        ctx.Database.CreateExecutionStrategy().Execute(() =>
        {
            using var tx = ctx.Database.BeginTransaction();
            Assert.Equal(fixture.Cluster.Primary.Port, ctx.Notes.Select(n => NotesContext.ServerPort()).First());
            Assert.Equal(1, ctx.Notes.Where(n => n.Text == text).ExecuteDelete());
            tx.Commit();
        });
        Assert.Equal(0L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" = '{text}'"));
    }

    private static readonly Func<NotesContext, int, CancellationToken, Task<int>> CompiledPortOfNote =
        EF.CompileAsyncQuery((NotesContext c, int id, CancellationToken ct) => c.Notes.Where(n => n.Id == id).Select(n => NotesContext.ServerPort()).First());

    [Fact]
    public async Task Compiled_queries_are_routed_and_traced_like_the_library_statements()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        using var source = new ActivitySource("ef-routing-test");
        var seen = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "RoutingDataSource" or "ef-routing-test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (seen) seen.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        await using var ctx = fixture.CreateContext();
        var seed = await ctx.Notes.Where(n => n.Text == "seed").Select(n => n.Id).FirstAsync(cts.Token);
        int port;
        using (var parent = source.StartActivity("unit"))
            port = await CompiledPortOfNote(ctx, seed, cts.Token);

        Assert.Contains(port, fixture.StandbyPorts);
        Activity route;
        lock (seen)
            route = Assert.Single(seen, a => a.OperationName == "route" && a.Parent?.OperationName == "unit");
        Assert.Equal("standby", route.GetTagItem("routing.role"));
        Assert.Equal(port, route.GetTagItem("server.port"));
    }

    [Fact]
    public async Task In_the_DataSource_scope_a_context_sees_a_write_made_through_a_plain_routing_connection()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionString, ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        b.Options.ReadYourWrites = ReadYourWritesScope.DataSource;
        b.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
        await using var ds = b.Build();
        await ds.RefreshStatusAsync(cts.Token);
        var text = $"scope-{Guid.NewGuid():N}";
        await using (await fixture.PauseReplayAsync(cts.Token))
        {
            await using (var conn = await ds.OpenConnectionAsync(cts.Token))
            await using (var insert = conn.CreateCommand())
            {
                insert.CommandText = $"INSERT INTO \"Notes\" (\"Text\") VALUES ('{text}')";
                await insert.ExecuteNonQueryAsync(cts.Token);
        }
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options);
        Assert.True(await ctx.Notes.AnyAsync(n => n.Text == text, cts.Token));
        }
    }

    [Fact]
    public async Task A_query_left_hanging_on_a_frozen_standby_is_run_again_elsewhere()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        // Its own data source: n2 detached, so n1 serves every read until the monitor takes it out of service.
        await using var ds = await EfClusterFixture.CreateDataSourceAsync(fixture.Cluster, cts.Token);
        ds.DetachBackend("n2");
        await ds.RefreshStatusAsync(cts.Token);
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options);
        var n1 = fixture.Cluster.Node("n1");
        Assert.Equal(n1.Port, await ctx.ServerPortAsync(cts.Token));
        await n1.FreezeAsync(cts.Token);
        try
        {
            // The statement hangs on n1 until the monitor declares it down; then it is abandoned and run on the primary.
            Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
            Assert.Equal(fixture.Cluster.Primary.Port, await ctx.ServerPortAsync(cts.Token));
        }
        finally
        {
            await n1.ThawAsync(CancellationToken.None);
            // The shared data source saw n1 go down too: the other tests need it back in rotation.
            for (var i = 0; i < 50 && fixture.DataSource.GetStatus()["n1"]!.State != BackendState.Up; i++)
                await fixture.DataSource.RefreshStatusAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task EnsureDeleted_drops_the_database_through_the_providers_own_admin_connection()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var db = $"efdrop_{Guid.NewGuid():N}";
        await fixture.Cluster.Primary.ExecuteAsync($"CREATE DATABASE {db}", cts.Token);
        var b = new PgRoutingDataSourceBuilder();
        foreach (var n in fixture.Cluster.Nodes)
            b.AddBackend(n.Name, n.ConnectionStringWith(c => c.Database = db), ReferenceEquals(n, fixture.Cluster.Primary) ? 0 : 1);
        await using var ds = b.Build();
        await using var ctx = new NotesContext(new DbContextOptionsBuilder<NotesContext>().UseRoutingDataSource(ds).Options);
        Assert.True(await ctx.Database.EnsureDeletedAsync(cts.Token));
        Assert.Equal(0L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM pg_database WHERE datname = '{db}'", cts.Token));
    }

    [Fact]
    public async Task A_serialization_failure_at_COMMIT_is_run_again()
    {
        using var cts = new CancellationTokenSource(TestBudget);
        var tag = $"ws-{Guid.NewGuid():N}";
        await using var ctx = fixture.CreateContext();
        var attempts = 0;
        await ctx.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            attempts++;
            ctx.ChangeTracker.Clear();
            await using var tx = await ctx.Database.BeginTransactionAsync(IsolationLevel.Serializable, cts.Token);
            _ = await ctx.Notes.CountAsync(n => n.Text.StartsWith(tag), cts.Token);
            ctx.Notes.Add(new Note { Text = tag + "-ef" });
            await ctx.SaveChangesAsync(cts.Token);
            if (attempts == 1)
            {
                // Write skew: another serializable transaction reads the same rows, writes, and commits first, so this
                // one is refused at COMMIT (40001): nothing of it committed, it may run again.
                await using var other = new NpgsqlConnection(fixture.Cluster.Primary.ConnectionString);
                await other.OpenAsync(cts.Token);
                await using var otx = await other.BeginTransactionAsync(IsolationLevel.Serializable, cts.Token);
                await using (var read = new NpgsqlCommand($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" LIKE '{tag}%'", other, otx))
                    await read.ExecuteScalarAsync(cts.Token);
                await using (var write = new NpgsqlCommand($"INSERT INTO \"Notes\" (\"Text\") VALUES ('{tag}-other')", other, otx))
                    await write.ExecuteNonQueryAsync(cts.Token);
                await otx.CommitAsync(cts.Token);
            }
            await tx.CommitAsync(cts.Token);
        });

        Assert.Equal(2, attempts);
        Assert.Equal(2L, await fixture.Cluster.Primary.ScalarAsync<long>($"SELECT count(*) FROM \"Notes\" WHERE \"Text\" LIKE '{tag}%'", cts.Token));
    }

    private static Task<string> AppNameAsync(DbContext ctx, CancellationToken cancellationToken)
        => ctx.Database.SqlQuery<string>($"SELECT current_setting('application_name') AS \"Value\"").SingleAsync(cancellationToken);
}
