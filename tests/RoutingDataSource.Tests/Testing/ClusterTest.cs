using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

/// <summary>Bounds a test body in time and prints the server logs when it fails.</summary>
internal static class ClusterTest
{
    /// <summary>Runs <paramref name="body"/> against an existing cluster.</summary>
    public static async Task RunAsync(ITestOutputHelper output, LocalPgCluster cluster, Func<CancellationToken, Task> body, int seconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            await body(timeout.Token);
        }
        catch
        {
            output.WriteLine(cluster.DumpLogs(100));
            throw;
        }
    }

    /// <summary>Starts a cluster of its own for <paramref name="body"/> and always disposes it.</summary>
    public static async Task WithClusterAsync(ITestOutputHelper output, LocalPgClusterOptions options, Func<LocalPgCluster, CancellationToken, Task> body, int seconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await using var cluster = await LocalPgCluster.StartAsync(options, timeout.Token);
        output.WriteLine($"{cluster} started in {cluster.StartupDuration.TotalMilliseconds:0} ms");
        try
        {
            await body(cluster, timeout.Token);
        }
        catch
        {
            output.WriteLine(cluster.DumpLogs(100));
            throw;
        }
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds; fails the test when <paramref name="cancellationToken"/> fires first.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
    {
        while (!await condition())
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }
}
