using RoutingDataSource.Coordinator.Cli;
using RoutingDataSource.Coordinator.Tests.Infrastructure;
using RoutingDataSource.Testing;
using Xunit.Abstractions;

namespace RoutingDataSource.Coordinator.Tests.Cli;

/// <summary>
/// <c>routing-coordinator check --config F --connect</c> against a real 1+2 cluster: a good configuration (the
/// README's least-privilege role) passes; a broken one lists every problem at once and exits 1.
/// </summary>
public sealed class ConnectCheckTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rds-coord-check-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(int Code, string Output)> CheckAsync(string backends, string replicationConnInfo)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(path, $$"""
            { "Coordinator": { "Backends": [ {{backends}} ], "ReplicationConnInfo": "{{replicationConnInfo}}" } }
            """);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CommandLine.RunAsync(["check", "--config", path, "--connect"], stdout, stderr);
        var text = stdout + stderr.ToString();
        output.WriteLine($"exit {code}:\n{text}");
        return (code, text);
    }

    private static string Backend(string name, string connectionString) => $$"""{ "Name": "{{name}}", "ConnectionString": "{{connectionString}}" }""";

    [Fact]
    public async Task A_good_configuration_passes_and_a_broken_one_lists_every_problem_at_once()
    {
        await using var cluster = await LocalPgCluster.StartAsync(new LocalPgClusterOptions { Standbys = 2, SynchronousStandbyNames = "ANY 1 (n1, n2, barman)" });
        await LeastPrivilege.CreateAsync(cluster);
        await cluster.Primary.ExecuteAsync("CREATE ROLE weak_coordinator LOGIN; GRANT pg_monitor TO weak_coordinator");
        await cluster.WaitForReplicationAsync();
        var (n0, n1, n2) = (cluster.Primary, cluster.Node("n1"), cluster.Node("n2"));

        var (code, text) = await CheckAsync(
            string.Join(", ", cluster.Nodes.Select(n => Backend(n.Name, LeastPrivilege.ConnectionString(n)))),
            CoordinatedCluster.ReplicationConnInfo);
        Assert.Equal(0, code);
        Assert.Contains($"n0 (127.0.0.1:{n0.Port}): primary", text, StringComparison.Ordinal);
        Assert.Contains($"n1 (127.0.0.1:{n1.Port}): standby (streaming from 127.0.0.1:{n0.Port})", text, StringComparison.Ordinal);
        Assert.Contains("servers OK", text, StringComparison.Ordinal);
        Assert.DoesNotContain("problem(s)", text, StringComparison.Ordinal);
        // Works, but worth knowing: the harness leaves wal_receiver_timeout at 60 s, and barman is no backend.
        Assert.Contains("n1 (127.0.0.1:" + n1.Port + "): wal_receiver_timeout is 60 s", text, StringComparison.Ordinal);
        Assert.Contains("synchronous_standby_names names 'barman'", text, StringComparison.Ordinal);

        // Broken: n1's role lacks the privileges, n2's database does not exist, n3 listens nowhere, and the replication
        // user does not exist (a password is given, so the standbys could not use it either).
        var closedPort = BuiltProgram.FreePort();
        (code, text) = await CheckAsync(
            string.Join(", ",
                Backend("n0", LeastPrivilege.ConnectionString(n0)),
                Backend("n1", n1.ConnectionStringWith(b => b.Username = "weak_coordinator")),
                Backend("n2", n2.ConnectionStringWith(b => { b.Username = LeastPrivilege.Role; b.Database = "no_such_database"; })),
                Backend("n3", $"Host=127.0.0.1;Port={closedPort};Username=coordinator;Timeout=2")),
            "host={host} port={port} user=no_such_replicator password=secret application_name={name}");
        Assert.Equal(1, code);
        foreach (var expected in new[]
        {
            $"n1 (127.0.0.1:{n1.Port}): the coordinator's role lacks the REPLICATION attribute",
            $"n1 (127.0.0.1:{n1.Port}): the coordinator's role lacks EXECUTE on pg_promote(boolean, integer)",
            $"n1 (127.0.0.1:{n1.Port}): the coordinator's role lacks EXECUTE on pg_reload_conf()",
            $"n1 (127.0.0.1:{n1.Port}): the coordinator's role lacks ALTER SYSTEM on primary_conninfo, primary_slot_name, synchronous_standby_names",
            $"n2 (127.0.0.1:{n2.Port}): the coordinator cannot log in or query: 3D000",
            "unknown database (3D000)",
            $"n3 (127.0.0.1:{closedPort}): the coordinator cannot log in or query",
            $"n0 (127.0.0.1:{n0.Port}): a replication connection made from ReplicationConnInfo failed: 28000",
            "problem(s):",
        })
        {
            if (!text.Contains(expected, StringComparison.Ordinal))
                Assert.Fail($"missing '{expected}' in:\n{text}");
        }
        Assert.DoesNotContain($"n1 (127.0.0.1:{n1.Port}): the coordinator's role lacks membership in pg_monitor", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
    }

    private static ServerFacts Server(string name, bool standby = true) => new(name, name + ":5432", name + ":5432")
    {
        InRecovery = standby, VersionNum = 150000, Superuser = true, WalLevel = "replica", MaxWalSenders = 10, MaxReplicationSlots = 10,
        WalReceiverTimeoutMs = 2000, WalRetrieveRetryIntervalMs = 5000, MaxSlotWalKeepSizeMb = 50_000,
        ReceiverStatus = standby ? "streaming" : null, SenderHost = standby ? "n0" : null, SenderPort = standby ? 5432 : null,
        Streaming = standby ? [] : ["n1", "n2"],
    };

    public static TheoryData<string, string> Findings => new()
    {
        { "fine", "" },
        { "wal_level minimal", "problem n0 (n0:5432): wal_level is 'minimal'" },
        { "one wal sender", "problem n1 (n1:5432): max_wal_senders is 1: as the primary it must serve the 2 other server(s)" },
        { "one slot", "problem n1 (n1:5432): max_replication_slots is 1" },
        { "two primaries", "problem more than one primary: n0, n1" },
        { "no primary", "problem no server answered as a primary" },
        { "not streaming", "problem n2 (n2:5432): a standby that does not stream (WAL receiver waiting)" },
        { "cascading", "warning n2 (n2:5432): streams from n1:5432, not from the primary n0" },
        { "unnamed", "warning n2: no row in n0's pg_stat_replication with application_name 'n2'" },
        { "slot keep unlimited", "warning n0 (n0:5432): max_slot_wal_keep_size is unlimited" },
        { "replication login without password", "warning n1 (n1:5432): a replication connection made from ReplicationConnInfo failed: 28P01" },
        { "replication login with password", "problem n1 (n1:5432): a replication connection made from ReplicationConnInfo failed: 28P01" },
    };

    [Theory]
    [MemberData(nameof(Findings))]
    public void Each_rule_finds_its_problem_alone(string situation, string expected)
    {
        var servers = new[] { Server("n0", standby: false), Server("n1"), Server("n2") };
        servers = situation switch
        {
            "wal_level minimal" => [servers[0] with { WalLevel = "minimal" }, servers[1], servers[2]],
            "one wal sender" => [servers[0], servers[1] with { MaxWalSenders = 1 }, servers[2]],
            "one slot" => [servers[0], servers[1] with { MaxReplicationSlots = 1 }, servers[2]],
            "two primaries" => [servers[0], servers[1] with { InRecovery = false }, servers[2]],
            "no primary" => [servers[0] with { InRecovery = true, ReceiverStatus = "streaming" }, servers[1], servers[2]],
            "not streaming" => [servers[0], servers[1], servers[2] with { ReceiverStatus = "waiting" }],
            "cascading" => [servers[0], servers[1], servers[2] with { SenderHost = "n1" }],
            "unnamed" => [servers[0] with { Streaming = ["n1", "walreceiver"] }, servers[1], servers[2]],
            "slot keep unlimited" => [servers[0] with { MaxSlotWalKeepSizeMb = -1 }, servers[1], servers[2]],
            "replication login without password" => [servers[0], servers[1] with { ReplicationError = "28P01: password authentication failed" }, servers[2]],
            "replication login with password" => [servers[0], servers[1] with { ReplicationError = "28P01: password authentication failed", ReplicationPasswordGiven = true }, servers[2]],
            _ => servers,
        };
        var (problems, warnings) = ConnectFindings.Evaluate(servers);
        var all = problems.Select(p => "problem " + p).Concat(warnings.Select(w => "warning " + w)).ToList();
        if (expected.Length == 0)
            Assert.Empty(all);
        else
            Assert.StartsWith(expected, Assert.Single(all), StringComparison.Ordinal);
    }
}
