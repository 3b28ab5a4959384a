using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Tests.Configuration;

public sealed class ConfigurationTests
{
    /// <summary>The contract's example, verbatim.</summary>
    private const string ContractExample = """
        { "Coordinator": {
            "Backends": [
              { "Name": "n0", "ConnectionString": "Host=10.0.0.1;Port=5432;Username=coordinator;Database=postgres", "Priority": 1 },
              { "Name": "n1", "ConnectionString": "Host=10.0.0.2;Port=5432;Username=coordinator;Database=postgres", "Priority": 1 } ],
            "ReplicationConnInfo": "host={host} port={port} user=replicator application_name={name}",
            "ProbeInterval": "00:00:01", "ProbeTimeout": "00:00:01", "FailureThreshold": 3,
            "Http": "127.0.0.1:8008" } }
        """;

    private static CoordinatorOptions Load(string json, out List<string> problems)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        return CoordinatorConfiguration.Load(configuration, out problems);
    }

    [Fact]
    public void The_contract_example_loads_without_problems()
    {
        var o = Load(ContractExample, out var problems);
        Assert.Empty(problems);
        Assert.Equal(["n0", "n1"], o.Backends.Select(b => b.Name));
        Assert.Equal(1, o.Backends[1].Priority);
        Assert.Equal(TimeSpan.FromSeconds(1), o.ProbeInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), o.ProbeTimeout);
        Assert.Equal(3, o.FailureThreshold);
        Assert.Equal("127.0.0.1:8008", o.Http);
        Assert.Equal("host={host} port={port} user=replicator application_name={name}", o.ReplicationConnInfo);
    }

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var o = new CoordinatorOptions();
        Assert.Equal(TimeSpan.FromSeconds(1), o.ProbeInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), o.ProbeTimeout);
        Assert.Equal(3, o.FailureThreshold);
        Assert.Equal("127.0.0.1:8008", o.Http);
        Assert.False(o.AllowDataLoss);
        Assert.Equal(1, new CoordinatorBackend().Priority);
    }

    [Fact]
    public void Every_problem_is_listed_at_once()
    {
        Load("""
            { "Coordinator": {
                "Backends": [
                  { "Name": "n0", "ConnectionString": "Host=a,b" },
                  { "Name": "N0", "ConnectionString": "Host=c;Target Session Attributes=primary", "Priority": 0 },
                  { "Name": "bad name", "ConnectionString": "Host=d", "Priority": "high", "ReplicationPort": 70000 } ],
                "ReplicationConnInfo": "host={host} port={port} {oops",
                "ProbeInterval": "500ms", "RetryInterval": "2s", "ProbeTimeout": "-1s", "AllowDataLoss": "maybe",
                "Http": "example.com:80", "Hooks": { "OnFence": "notify {who}", "Timeout": "0s", "Extra": 1 } } }
            """, out var problems);
        var text = string.Join("\n", problems);
        foreach (var expected in new[]
        {
            "Backends[0] (n0):ConnectionString names several hosts",
            "Backends[1] (N0):Name is used twice",
            "Target Session Attributes",
            "Coordinator:Backends:2:Priority: 'high' is not a whole number",
            "Name may hold only letters",
            "ReplicationPort 70000 is not a TCP port",
            "ReplicationConnInfo: unclosed '{'",
            "application_name={name}",
            "RetryInterval (2000 ms) must not exceed ProbeInterval (500 ms)",
            "ProbeTimeout must be positive",
            "AllowDataLoss: 'maybe' is not true or false",
            "the host must be an IP address or localhost",
            "Hooks:OnFence: unknown placeholder {who}",
            "Hooks:Timeout must be positive",
            "Coordinator:Hooks:Extra: unknown setting",
        })
        {
            Assert.True(text.Contains(expected, StringComparison.Ordinal), $"missing '{expected}' in:\n{text}");
        }
    }

    [Fact]
    public void A_missing_section_and_too_few_backends_are_reported()
    {
        Load("""{ "Coordinater": {} }""", out var problems);
        Assert.Contains(problems, p => p.Contains("no \"Coordinator\" section", StringComparison.Ordinal));
        Load("""{ "Coordinator": { "Backends": [ { "Name": "n0", "ConnectionString": "Host=a", "Priority": 0 } ], "ReplicationConnInfo": "host={host} port={port} application_name={name}" } }""", out problems);
        Assert.Contains(problems, p => p.Contains("at least two are needed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("-n1")]
    [InlineData("--help")]
    public void A_member_name_starting_with_a_dash_is_refused(string name)
    {
        // It becomes a hook argument ({new_primary}) and a CLI argument, where it would read as an option.
        var o = Load(ContractExample, out _);
        o.Backends[1].Name = name;
        Assert.Contains(CoordinatorOptionsValidator.Problems(o), p => p.Contains("must not start with '-'", StringComparison.Ordinal));
    }

    [Fact]
    public void Non_loopback_listening_needs_a_token()
    {
        var o = Load(ContractExample, out _);
        o.Http = "0.0.0.0:8008";
        Assert.Contains(CoordinatorOptionsValidator.Problems(o), p => p.Contains("set ApiToken", StringComparison.Ordinal));
        o.ApiToken = "t";
        Assert.Empty(CoordinatorOptionsValidator.Problems(o));
    }

    [Fact]
    public async Task Starting_the_host_with_invalid_options_throws_with_every_problem()
    {
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => CoordinatorHost.StartAsync(new CoordinatorOptions { FailureThreshold = 0 }));
        Assert.True(e.Failures.Count() >= 3, string.Join("\n", e.Failures));
    }

    [Theory]
    [InlineData("00:00:01", 1000)]
    [InlineData("00:00:00.250", 250)]
    [InlineData("1.5s", 1500)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    public void Durations_read_timespans_and_units(string text, int ms)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), value);
    }

    [Theory]
    [InlineData("127.0.0.1:8008", true)]
    [InlineData("localhost:0", true)]
    [InlineData("[::1]:8008", true)]
    [InlineData("10.1.2.3:80", false)]
    public void Listen_addresses_parse(string text, bool loopback)
    {
        Assert.True(ListenAddress.TryParse(text, out var a, out _));
        Assert.Equal(loopback, a.IsLoopback);
    }

    [Fact]
    public void Replication_conninfo_is_rendered_with_quoting()
    {
        Assert.Equal("host=10.0.0.2 port=5432 user=replicator application_name=n2",
            ReplicationConnInfo.Render("host={host} port={port} user=replicator application_name={name}", "10.0.0.2", 5432, "n2"));
        Assert.Equal("host='a b' port=1 application_name='it\\'s'", ReplicationConnInfo.Render("host={host} port={port} application_name={name}", "a b", 1, "it's"));
    }
}
