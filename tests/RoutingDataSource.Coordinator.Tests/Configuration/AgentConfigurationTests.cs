using System.Text;
using Microsoft.Extensions.Configuration;
using RoutingDataSource.Coordinator.Agent;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Tests.Configuration;

/// <summary>The agents' settings on both sides: the coordinator's (Agent, AgentToken, Rejoin, ...) and an agent's Local section.</summary>
public sealed class AgentConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rds-agent-conf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IConfiguration Json(string json) => new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();

    private static string Coordinator(string extra) => $$"""
        { "Coordinator": {
            "Backends": [
              { "Name": "n0", "ConnectionString": "Host=127.0.0.1;Port=5432", "Agent": "http://127.0.0.1:8010" },
              { "Name": "n1", "ConnectionString": "Host=127.0.0.1;Port=5433" } ],
            "ReplicationConnInfo": "host={host} port={port} user=replicator application_name={name}"{{extra}} } }
        """;

    [Fact]
    public void A_backend_with_an_agent_needs_the_agent_token_and_the_rejoin_policies_parse()
    {
        CoordinatorConfiguration.Load(Json(Coordinator("")), out var problems);
        Assert.Contains(problems, p => p.StartsWith("AgentToken (at least 16 characters) is required", StringComparison.Ordinal));

        var o = CoordinatorConfiguration.Load(Json(Coordinator(""", "AgentToken": "0123456789abcdef", "Rejoin": "rewind", "AutoRebuild": true, "SwitchoverMaxLagBytes": 1024""")), out problems);
        Assert.Empty(problems);
        Assert.Equal((RejoinPolicy.Rewind, true, 1024L, "http://127.0.0.1:8010"), (o.Rejoin, o.AutoRebuild, o.SwitchoverMaxLagBytes, o.Backends[0].Agent));
        Assert.Equal(RejoinPolicy.RewindOrRebuild, CoordinatorConfiguration.Load(Json(Coordinator(""", "AgentToken": "0123456789abcdef" """)), out _).Rejoin);

        CoordinatorConfiguration.Load(Json(Coordinator(""", "AgentToken": "0123456789abcdef", "Rejoin": "sometimes", "PreferredPrimary": "n9" """)), out problems);
        Assert.Equal(["Coordinator:Rejoin: 'sometimes' is not one of rewind-or-rebuild, rewind, manual.", "PreferredPrimary 'n9' is not one of the Backends."], problems);
    }

    [Fact]
    public void An_agent_listens_on_loopback_only_and_names_its_member_and_binaries()
    {
        var bin = Directory.CreateDirectory(Path.Combine(_dir, "bin")).FullName;
        File.WriteAllText(Path.Combine(bin, "pg_ctl"), "");
        AgentConfiguration.Load(Json($$"""
            { "Local": { "DataDirectory": "relative/dir", "BinDirectory": "{{_dir}}", "Listen": "0.0.0.0:8010",
                         "ReplicationConnInfo": "host={host} port={port} user=replicator" } }
            """), out var problems);
        Assert.Contains(problems, p => p.StartsWith("Local:Name is required", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Local:DataDirectory must be an absolute path", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("holds no pg_ctl", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("is not a loopback address", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("must set application_name={name}", StringComparison.Ordinal));

        var ok = AgentConfiguration.Load(Json($$"""
            { "Local": { "Name": "n0", "DataDirectory": "{{_dir}}/data", "BinDirectory": "{{bin}}",
                         "ReplicationConnInfo": "host={host} port={port} user=replicator application_name={name}" } }
            """), out problems);
        Assert.Empty(problems);
        Assert.Equal(($"{_dir}/data.log", $"{_dir}/data.agent-term", "127.0.0.1:8010"), (ok.ServerLogPath, ok.TermFilePath, ok.Listen));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_token_file_readable_by_others_is_refused()
    {
        var file = Path.Combine(_dir, "token");
        File.WriteAllText(file, "0123456789abcdef-token");
        var options = new AgentOptions { TokenFile = file };
        Environment.SetEnvironmentVariable(AgentConfiguration.TokenVariable, null);

        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Null(AgentConfiguration.Token(options, out var problem));
        Assert.Contains("readable by others", problem, StringComparison.Ordinal);

        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal("0123456789abcdef-token", AgentConfiguration.Token(options, out problem));
        Assert.Null(problem);
    }
}
