using System.Text;
using Microsoft.Extensions.Configuration;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Tests.Ha;

public sealed class EtcdConfigurationTests
{
    private const string Backends = """
        "Backends": [
          { "Name": "n0", "ConnectionString": "Host=10.0.0.1;Username=coordinator" },
          { "Name": "n1", "ConnectionString": "Host=10.0.0.2;Username=coordinator" } ],
        "ReplicationConnInfo": "host={host} port={port} user=replicator application_name={name}"
        """;

    private static CoordinatorOptions Load(string coordinatorBody, out List<string> problems)
    {
        var json = $$"""{ "Coordinator": { {{Backends}}, {{coordinatorBody}} } }""";
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        return CoordinatorConfiguration.Load(configuration, out problems);
    }

    [Fact]
    public void The_contract_example_loads_with_its_names_and_meaning()
    {
        var o = Load("""
            "Name": "c1",
            "Etcd": { "Endpoints": ["http://127.0.0.1:2379", "http://127.0.0.1:2381"], "Prefix": "/routing/main", "LeaseTtl": "00:00:05" },
            "Http": "127.0.0.1:8008"
            """, out var problems);

        Assert.Empty(problems);
        Assert.Equal("c1", o.Name);
        Assert.NotNull(o.Etcd);
        Assert.Equal(["http://127.0.0.1:2379", "http://127.0.0.1:2381"], o.Etcd.Endpoints);
        Assert.Equal("/routing/main", o.Etcd.Prefix);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Etcd.LeaseTtl);
    }

    [Fact]
    public void Without_an_Etcd_section_the_coordinator_runs_alone_under_the_host_name()
    {
        var o = Load("\"Http\": \"127.0.0.1:8008\"", out var problems);

        Assert.Empty(problems);
        Assert.Null(o.Etcd);
        Assert.Equal(System.Net.Dns.GetHostName(), o.Name);
        Assert.Equal(TimeSpan.FromSeconds(5), new CoordinatorEtcdOptions().LeaseTtl);
    }

    [Fact]
    public void Endpoints_may_be_one_comma_separated_string_for_environment_variables()
    {
        var o = Load("\"Etcd\": { \"Endpoints\": \"http://a:2379, http://b:2379\", \"Prefix\": \"/p\" }", out var problems);

        Assert.Empty(problems);
        Assert.Equal(["http://a:2379", "http://b:2379"], o.Etcd!.Endpoints);
    }

    [Fact]
    public void Every_etcd_problem_is_listed_at_once_naming_its_setting()
    {
        Load("""
            "Name": "-c1",
            "Etcd": { "Endpoints": ["http://127.0.0.1:2379", "https://127.0.0.1:2381", "127.0.0.1:2383", "http://h:2379/v3"],
                      "Prefix": "routing/main/", "LeaseTtl": "1500ms", "Username": "root", "CaFile": "/no/such/ca.pem",
                      "ClientCertificateFile": "/c.pem", "Unknown": 1 }
            """, out var problems);

        Assert.Contains(problems, p => p.StartsWith("Name '-c1'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:Endpoints[2] '127.0.0.1:2383'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:Endpoints[3] 'http://h:2379/v3'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:Endpoints mix http:// and https://", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:Prefix 'routing/main/'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:LeaseTtl must be whole seconds", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:Username and Etcd:Password go together", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:ClientCertificateFile and Etcd:ClientKeyFile go together", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:CaFile: no file '/no/such/ca.pem'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Coordinator:Etcd:Unknown: unknown setting", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Etcd:ClientCertificateFile: no file '/c.pem'", StringComparison.Ordinal));
        Assert.Equal(11, problems.Count);
    }

    [Fact]
    public void An_empty_Etcd_section_asks_for_endpoints_and_a_prefix()
    {
        var o = new CoordinatorOptions { Name = "c1", Etcd = new CoordinatorEtcdOptions() };
        o.Backends.Add(new CoordinatorBackend { Name = "n0", ConnectionString = "Host=a" });
        o.Backends.Add(new CoordinatorBackend { Name = "n1", ConnectionString = "Host=b" });
        o.ReplicationConnInfo = "host={host} port={port} application_name={name}";

        var problems = CoordinatorOptionsValidator.Problems(o);

        Assert.Equal(2, problems.Count);
        Assert.StartsWith("Etcd:Endpoints: at least one", problems[0], StringComparison.Ordinal);
        Assert.StartsWith("Etcd:Prefix is required", problems[1], StringComparison.Ordinal);
    }
}
