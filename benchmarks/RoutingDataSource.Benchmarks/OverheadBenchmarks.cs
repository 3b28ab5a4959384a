using BenchmarkDotNet.Attributes;
using Npgsql;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks;

/// <summary>
/// The cost of routing: <c>SELECT 1</c> through <see cref="PgRoutingDataSource"/> with one backend against a plain
/// <see cref="NpgsqlDataSource"/> on the same local server, same pool size, 1 and 16 concurrent callers.
/// Each invocation runs <see cref="PerCaller"/> statements per caller; results are per statement.
/// </summary>
[MemoryDiagnoser]
public class OverheadBenchmarks
{
    private const int PerCaller = 200;
    private LocalPgCluster _cluster = null!;
    private NpgsqlDataSource _plain = null!;
    private PgRoutingDataSource _routing = null!;

    [Params(1, 16)]
    public int Callers { get; set; }

    // Synchronous on purpose: BenchmarkDotNet's in-process toolchain (used by ./build.sh bench) does not await a
    // Task-returning [GlobalSetup] or [GlobalCleanup]; this is the one sync-over-async place of the benchmarks.
    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 0 });
        var cs = _cluster.Primary.ConnectionStringWith(b => b.MaxPoolSize = 32);
        _plain = NpgsqlDataSource.Create(cs);
        var builder = new PgRoutingDataSourceBuilder();
        builder.AddBackend("n0", cs);
        _routing = builder.Build();
        await _routing.RefreshStatusAsync();
        await _routing.Volatility.WaitForPreloadAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
    }

    private async Task CleanupAsync()
    {
        await _routing.DisposeAsync();
        await _plain.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PerCaller)]
    public Task Npgsql_SelectOne() => RunAsync(async () =>
    {
        await using var conn = await _plain.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("SELECT 1", conn);
        await cmd.ExecuteScalarAsync();
    });

    [Benchmark(OperationsPerInvoke = PerCaller)]
    public Task Routing_SelectOne() => RunAsync(async () =>
    {
        await using var conn = await _routing.OpenConnectionAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1";
        await cmd.ExecuteScalarAsync();
    });

    // Each caller runs PerCaller / Callers statements so every invocation does PerCaller statements in total.
    private async Task RunAsync(Func<Task> statement)
    {
        var each = PerCaller / Callers;
        var tasks = new Task[Callers];
        for (var c = 0; c < Callers; c++)
        {
            tasks[c] = Task.Run(async () =>
            {
                for (var i = 0; i < each; i++)
                    await statement();
            });
        }
        await Task.WhenAll(tasks);
    }
}
