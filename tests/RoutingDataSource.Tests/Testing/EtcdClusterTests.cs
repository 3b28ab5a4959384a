using System.Diagnostics;
using RoutingDataSource.Testing;
using RoutingDataSource.Testing.Internal;
using Xunit.Abstractions;

namespace RoutingDataSource.Tests.Testing;

public sealed class EtcdClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Three_members_start_healthy_and_a_write_through_one_proxy_is_read_through_another()
    {
        await WithClusterAsync(3, async (etcd, ct) =>
        {
            Assert.Equal(["e0", "e1", "e2"], etcd.Members.Select(m => m.Name));
            Assert.Equal(6, etcd.Endpoints.Concat(etcd.DirectEndpoints).Distinct().Count());

            Assert.True((await Etcdctl.RunAsync(etcd.Members[0].Endpoint, ["put", "/k", "v1"], ct)).Succeeded);
            var read = await Etcdctl.RunAsync(etcd.Members[2].Endpoint, ["get", "/k", "--print-value-only"], ct);

            Assert.Equal("v1", read.Output.Trim());
            Assert.True(etcd.Members[0].Proxy.AcceptedConnections > 0 && etcd.Members[2].Proxy.AcceptedConnections > 0);
            Assert.Equal(0, etcd.Members[1].Proxy.AcceptedConnections);
        });
    }

    [Fact]
    public async Task A_cut_off_member_answers_no_client_while_the_others_do_and_heals()
    {
        await WithClusterAsync(3, async (etcd, ct) =>
        {
            var e0 = etcd.Member("e0");
            e0.CutOff();

            Assert.False((await Etcdctl.RunAsync(e0.Endpoint, ["put", "/k", "cut"], ct)).Succeeded);
            Assert.True((await Etcdctl.RunAsync(etcd.Member("e1").Endpoint, ["put", "/k", "through-e1"], ct)).Succeeded);
            // Only clients are cut off: through its own port e0 still serves, as a member of the quorum.
            Assert.Equal("through-e1", (await Etcdctl.RunAsync(e0.DirectEndpoint, ["get", "/k", "--print-value-only"], ct)).Output.Trim());

            e0.Heal();
            Assert.True((await Etcdctl.RunAsync(e0.Endpoint, ["put", "/k", "healed"], ct)).Succeeded);
        });
    }

    [Fact]
    public async Task A_blackholed_route_cuts_off_its_own_client_only()
    {
        await WithClusterAsync(1, async (etcd, ct) =>
        {
            var route = etcd.OpenRoute();
            Assert.True((await Etcdctl.RunAsync(route.Endpoints[0], ["put", "/k", "via-route"], ct)).Succeeded);

            route.Blackhole();

            Assert.False((await Etcdctl.RunAsync(route.Endpoints[0], ["put", "/k", "cut"], ct)).Succeeded);
            Assert.Equal("via-route", (await Etcdctl.RunAsync(etcd.Endpoints[0], ["get", "/k", "--print-value-only"], ct)).Output.Trim());
            route.Heal();
            Assert.True((await Etcdctl.RunAsync(route.Endpoints[0], ["put", "/k", "healed"], ct)).Succeeded);
            // Not disposed here on purpose: the cluster's disposal closes its routes.
        });
    }

    [Fact]
    public async Task Without_a_quorum_nothing_is_written_and_with_it_back_the_cluster_serves_again()
    {
        await WithClusterAsync(3, async (etcd, ct) =>
        {
            await etcd.Member("e1").StopAsync(ct);
            await etcd.Member("e2").KillAsync(ct);
            Assert.False(etcd.Member("e2").IsRunning);

            Assert.False((await Etcdctl.RunAsync(etcd.Member("e0").Endpoint, ["put", "/k", "no-quorum"], ct)).Succeeded);

            await etcd.Member("e1").StartAsync(ct);
            await etcd.WaitForHealthyAsync(cancellationToken: ct);
            Assert.True((await Etcdctl.RunAsync(etcd.Member("e0").Endpoint, ["put", "/k", "quorum"], ct)).Succeeded);
            await etcd.Member("e2").StartAsync(ct);
            await etcd.WaitForHealthyAsync(cancellationToken: ct);
            Assert.Equal("quorum", (await Etcdctl.RunAsync(etcd.Member("e2").Endpoint, ["get", "/k", "--print-value-only"], ct)).Output.Trim());
        });
    }

    [Fact]
    public async Task A_frozen_member_hangs_and_thaws()
    {
        await WithClusterAsync(1, async (etcd, ct) =>
        {
            var e0 = etcd.Member("e0");
            await e0.FreezeAsync(ct);
            Assert.True(e0.IsFrozen);
            Assert.Equal('T', Posix.State(e0.ProcessId!.Value));
            Assert.False((await Etcdctl.RunAsync(e0.Endpoint, ["put", "/k", "frozen"], ct)).Succeeded);

            await e0.ThawAsync(ct);
            Assert.True((await Etcdctl.RunAsync(e0.Endpoint, ["put", "/k", "thawed"], ct)).Succeeded);
        });
    }

    [Fact]
    public async Task Disposal_stops_every_member_even_a_frozen_one_and_deletes_the_directory()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 3 }, timeout.Token);
        await etcd.Member("e1").FreezeAsync(timeout.Token);
        var processes = MemberProcesses(etcd);
        Assert.Equal(3, processes.Count);

        var clock = Stopwatch.StartNew();
        await etcd.DisposeAsync();
        output.WriteLine($"disposed in {clock.ElapsedMilliseconds} ms");

        Assert.False(ServerProcesses.AnyAlive(processes));
        Assert.False(Directory.Exists(etcd.Directory));
        await ClusterTest.EventuallyAsync(() => Task.FromResult(ServerProcesses.Mentioning(etcd.Directory).Count == 0), "no process mentions the directory", timeout.Token);
    }

    [Fact]
    public async Task Watchdog_stops_the_members_and_deletes_the_directory_when_the_owner_dies()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 1 }, timeout.Token);
        await etcd.Member("e0").FreezeAsync(timeout.Token);
        var processes = MemberProcesses(etcd);

        etcd.SimulateOwnerDeath();

        await ClusterTest.EventuallyAsync(
            () => Task.FromResult(!ServerProcesses.AnyAlive(processes) && !Directory.Exists(etcd.Directory)),
            "the watchdog stopped the members and deleted the directory", timeout.Token);
    }

    [Fact]
    public async Task Options_outside_what_the_harness_supports_are_refused()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = 2 }));
        await Assert.ThrowsAsync<ArgumentException>(() => LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { NamePrefix = "a b" }));
        await Assert.ThrowsAsync<ArgumentException>(() => LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { ElectionTimeout = TimeSpan.FromMilliseconds(200) }));
    }

    internal static List<(int Pid, long? Start)> MemberProcesses(LocalEtcdCluster etcd) =>
        etcd.Members.Select(m => m.ProcessId!.Value).Select(pid => (pid, Posix.StartTime(pid))).ToList();

    private async Task WithClusterAsync(int members, Func<LocalEtcdCluster, CancellationToken, Task> body)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var etcd = await LocalEtcdCluster.StartAsync(new LocalEtcdClusterOptions { Members = members }, timeout.Token);
        output.WriteLine($"{etcd} started in {etcd.StartupDuration.TotalMilliseconds:0} ms");
        try
        {
            await body(etcd, timeout.Token);
        }
        catch
        {
            output.WriteLine(etcd.DumpLogs(60));
            throw;
        }
    }

    /// <summary>etcdctl (Debian's etcd-client) against one endpoint, each command bounded to two seconds.</summary>
    private static class Etcdctl
    {
        public static Task<CommandResult> RunAsync(string endpoint, string[] arguments, CancellationToken cancellationToken)
        {
            var startInfo = Command.CreateStartInfo("etcdctl", ["--endpoints", endpoint, "--dial-timeout=1s", "--command-timeout=2s", .. arguments], asServer: false);
            startInfo.Environment["ETCDCTL_API"] = "3";
            return RunAsync(startInfo, cancellationToken);
        }

        private static async Task<CommandResult> RunAsync(ProcessStartInfo startInfo, CancellationToken cancellationToken)
        {
            using var process = Process.Start(startInfo)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return new CommandResult(process.ExitCode, await stdout + await stderr);
        }
    }
}
