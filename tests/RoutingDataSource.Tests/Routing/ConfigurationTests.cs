using System.Data.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace RoutingDataSource.Tests.Routing;

/// <summary>Builder validation, <see cref="PgRoutingDataSource.Create"/> and DI registration. No server needed: Build contacts none.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public void Build_reports_every_problem_in_one_exception()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", "Host=127.0.0.1;Port=5432;Username=app;Password=hunter2");
        b.AddBackend("n0", "Host=127.0.0.1;Port=5433;Username=app", weight: -1);
        b.AddBackend("", "Host=a,b;Username=app");
        b.AddBackend("bad", "Nonsense Keyword=1");
        b.AddBackend("tsa", "Host=x;Target Session Attributes=primary");
        b.Options.HealthCheckInterval = TimeSpan.Zero;
        b.Options.HealthCheckMaxRetries = 0;
        b.Options.ReadOnlyFunctions.Add("f");
        b.Options.WriteFunctions.Add("F");
        var e = Assert.Throws<RoutingConfigurationException>(() => b.Build());
        Assert.Contains(e.Problems, p => p.Contains("HealthCheckInterval", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("HealthCheckMaxRetries", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("used twice", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("weight", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("name is empty", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("one host per backend", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("'bad'", StringComparison.Ordinal) && p.Contains("invalid connection string", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("Target Session Attributes", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Contains("both", StringComparison.Ordinal));
        Assert.Equal(9, e.Problems.Count);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_without_backends_says_so()
    {
        var e = Assert.Throws<RoutingConfigurationException>(() => new PgRoutingDataSourceBuilder().Build());
        Assert.Contains("No backend", Assert.Single(e.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_from_a_multi_host_string_makes_one_backend_per_host_with_weight_one()
    {
        await using var ds = PgRoutingDataSource.Create("Host=127.0.0.1:5001,127.0.0.1:5002,localhost;Port=5003;Username=app;Password=pw;Database=app;Target Session Attributes=primary");
        var s = ds.GetStatus();
        Assert.Equal(["127.0.0.1:5001", "127.0.0.1:5002", "localhost:5003"], s.Backends.Select(b => b.Name));
        Assert.All(s.Backends, b => Assert.Equal(1, b.Weight));
        Assert.Equal([5001, 5002, 5003], s.Backends.Select(b => b.Port));
        Assert.DoesNotContain("pw", ds.ConnectionString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_changed_after_build_do_not_affect_the_data_source()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", "Host=127.0.0.1;Port=1");
        await using var ds = b.Build();
        b.Options.HealthCheckInterval = TimeSpan.FromHours(1);
        b.Options.WriteFunctions.Add("x");
        Assert.Equal(TimeSpan.FromSeconds(1), ds.Options.HealthCheckInterval);
        Assert.Empty(ds.Options.WriteFunctions);
    }

    [Fact]
    public async Task DI_registers_one_singleton_as_PgRoutingDataSource_and_DbDataSource()
    {
        var services = new ServiceCollection();
        services.AddRoutingDataSource(b => b.AddBackend("n0", "Host=127.0.0.1;Port=1;Username=app"));
        await using var sp = services.BuildServiceProvider();
        var a = sp.GetRequiredService<PgRoutingDataSource>();
        Assert.Same(a, sp.GetRequiredService<DbDataSource>());
        Assert.Equal("n0", Assert.Single(a.GetStatus().Backends).Name);
    }

    [Fact]
    public async Task DI_binds_appsettings_with_backends_and_options()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RoutingDataSource:Backends:0:Name"] = "n0",
            ["RoutingDataSource:Backends:0:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=app",
            ["RoutingDataSource:Backends:0:Weight"] = "0",
            ["RoutingDataSource:Backends:1:Name"] = "n1",
            ["RoutingDataSource:Backends:1:ConnectionString"] = "Host=127.0.0.1;Port=2;Username=app",
            ["RoutingDataSource:HealthCheckInterval"] = "00:00:03",
            ["RoutingDataSource:MaxReplicationLagBytes"] = "1024",
            ["RoutingDataSource:ReadOnlyFunctions:0"] = "my_read_fn",
        }).Build();
        var services = new ServiceCollection();
        services.AddRoutingDataSource(config.GetSection("RoutingDataSource"));
        await using var sp = services.BuildServiceProvider();
        sp.GetRequiredService<IStartupValidator>().Validate();
        var ds = sp.GetRequiredService<PgRoutingDataSource>();
        Assert.Equal(TimeSpan.FromSeconds(3), ds.Options.HealthCheckInterval);
        Assert.Equal(1024, ds.Options.MaxReplicationLagBytes);
        Assert.Contains("my_read_fn", ds.Options.ReadOnlyFunctions);
        var s = ds.GetStatus();
        Assert.Equal([("n0", 0), ("n1", 1)], s.Backends.Select(b => (b.Name, b.Weight)));
    }

    [Fact]
    public async Task DI_validation_fails_at_start_listing_every_problem()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RoutingDataSource:Backends:0:Name"] = "n0",
            ["RoutingDataSource:Backends:0:ConnectionString"] = "",
            ["RoutingDataSource:HealthCheckTimeout"] = "-00:00:01",
        }).Build();
        var services = new ServiceCollection();
        services.AddRoutingDataSource(config.GetSection("RoutingDataSource"));
        await using var sp = services.BuildServiceProvider();
        var e = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(2, e.Failures.Count());
    }
}
