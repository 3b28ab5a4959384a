using RoutingDataSource.Coordinator.Actions;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Cli;

public sealed class HookTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rds-coord-hook-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Dictionary<string, string> Values = new()
    {
        ["old_primary"] = "n0", ["old_host"] = "10.0.0.1", ["old_port"] = "5432",
        ["new_primary"] = "n1", ["new_host"] = "10.0.0.2", ["new_port"] = "5433", ["timeline"] = "2",
    };

    [Theory]
    [InlineData("notify {new_primary}", new[] { "notify", "n1" })]
    [InlineData("a 'b c' \"d {timeline}\" e\\ f", new[] { "a", "b c", "d 2", "e f" })]
    [InlineData("x --to={new_host}:{new_port}", new[] { "x", "--to=10.0.0.2:5433" })]
    public void Commands_split_like_a_shell_and_fill_placeholders_per_argument(string command, string[] expected)
    {
        Assert.True(HookCommand.TryParse(command, out var parsed, out var error), error);
        Assert.Equal(expected, parsed!.Render(Values));
    }

    [Fact]
    public void A_value_is_never_split_or_run_as_code()
    {
        HookCommand.TryParse("echo {old_primary}", out var parsed, out _);
        Assert.Equal(["echo", "a; rm -rf /"], parsed!.Render(new Dictionary<string, string> { ["old_primary"] = "a; rm -rf /" }));
    }

    [Fact]
    public async Task Hook_gets_arguments_and_environment_and_a_slow_one_is_killed_without_blocking()
    {
        var logging = new TestLogging(output);
        await using var runner = new HookRunner(TimeSpan.FromSeconds(1), logging.CreateLogger("hooks"));
        var file = Path.Combine(_dir, "out.txt");
        await runner.Start("OnFailover", $"/bin/sh -c 'echo \"$@ $RDS_TIMELINE\" > \"$0\"' {file} {{old_primary}} {{new_primary}}", Values);
        Assert.Equal("n0 n1 2", (await File.ReadAllTextAsync(file)).Trim());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var slow = runner.Start("OnFence", "sleep 30", Values);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "Start must not wait for the hook");
        await slow.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(logging.Contains("killed after 1000 ms"));

        await runner.Start("OnFence", "/bin/false", Values);
        Assert.True(logging.Contains("exit code 1"));
        await runner.Start("OnFence", "/nonexistent/program", Values);
        Assert.True(logging.Contains("Hook OnFence (/nonexistent/program) failed"));
    }

    [Fact]
    public async Task A_hook_sees_only_the_allowlisted_environment_and_its_values_never_the_api_token()
    {
        var logging = new TestLogging(output);
        await using var runner = new HookRunner(TimeSpan.FromSeconds(10), logging.CreateLogger("hooks"));
        var file = Path.Combine(_dir, "env.txt");
        const string Secret = "ROUTING_COORDINATOR_Coordinator__ApiToken";
        Environment.SetEnvironmentVariable(Secret, "s3cret-token");
        Environment.SetEnvironmentVariable("RDS_TEST_UNRELATED", "leak");
        try
        {
            await runner.Start("OnFailover", $"/bin/sh -c 'env > \"$0\"' {file}", Values);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Secret, null);
            Environment.SetEnvironmentVariable("RDS_TEST_UNRELATED", null);
        }
        var env = (await File.ReadAllLinesAsync(file)).Select(l => l.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.DoesNotContain(env.Values, v => v.Contains("s3cret-token", StringComparison.Ordinal));
        Assert.False(env.ContainsKey(Secret));
        Assert.False(env.ContainsKey("RDS_TEST_UNRELATED"));
        Assert.Equal("n1", env["RDS_NEW_PRIMARY"]);
        Assert.Equal("2", env["RDS_TIMELINE"]);
        Assert.True(env.ContainsKey("PATH"), "PATH is allowlisted");
    }
}
