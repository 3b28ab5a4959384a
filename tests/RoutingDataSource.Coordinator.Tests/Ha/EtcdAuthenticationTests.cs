using System.Diagnostics;
using RoutingDataSource.Coordinator.Ha;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Ha;

public sealed class EtcdAuthenticationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task With_authentication_on_the_configured_user_leads_and_an_anonymous_coordinator_does_not()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ct = timeout.Token;
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, ct);
        var endpoint = etcd.Members[0].DirectEndpoint;
        await EtcdctlAsync(endpoint, ["user", "add", "root:secret-1"], ct);
        await EtcdctlAsync(endpoint, ["auth", "enable"], ct);
        var logging = new TestLogging(output);
        var ttl = TimeSpan.FromSeconds(3);

        await using var anonymous = new EtcdContender("c0", etcd.Endpoints, "/auth", ttl, logging);
        var refused = await Record.ExceptionAsync(() => anonymous.Election.StepAsync(ct));
        await using var user = new EtcdContender("c1", etcd.Endpoints, "/auth", ttl, logging, credentials: ("root", "secret-1")).Start();
        await LeaderElectionTests.EventuallyAsync(() => user.IsLeader, "the authenticated coordinator leads", ct);

        Assert.NotNull(refused);
        Assert.False(anonymous.IsLeader);
        var view = await new CoordinatorRegistry(user.Connection, user.Keys).ReadAsync(ct);
        Assert.Equal("c1", view.Leader);
    }

    private static async Task EtcdctlAsync(string endpoint, string[] arguments, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo("etcdctl", ["--endpoints", endpoint, "--command-timeout=5s", .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.Environment["ETCDCTL_API"] = "3";
        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        Assert.True(process.ExitCode == 0, $"etcdctl {string.Join(' ', arguments)}: {await stdout}{await stderr}");
    }
}
