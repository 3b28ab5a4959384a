using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace RoutingDataSource.Tests.Configuration;

/// <summary>
/// <c>AddRoutingDataSource(configuration)</c> as an appsettings.json user meets it: every problem, conversion errors and
/// unknown keys included, in the one exception thrown at host start, each with its configuration path. No server needed.
/// </summary>
public sealed class ConfigurationSectionTests
{
    private static IConfiguration Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    /// <summary>Backends n0 (weight 0) and n1, with <paramref name="settings"/> ("Key=Value" under RoutingDataSource) over them.</summary>
    private static Dictionary<string, string?> TwoBackends(params string[] settings)
    {
        var values = TwoBackends();
        foreach (var setting in settings)
            values["RoutingDataSource:" + setting[..setting.IndexOf('=', StringComparison.Ordinal)]] = setting[(setting.IndexOf('=', StringComparison.Ordinal) + 1)..];
        return values;
    }

    private static Dictionary<string, string?> TwoBackends() => new()
    {
        ["RoutingDataSource:Backends:0:Name"] = "n0",
        ["RoutingDataSource:Backends:0:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=app",
        ["RoutingDataSource:Backends:0:Weight"] = "0",
        ["RoutingDataSource:Backends:1:Name"] = "n1",
        ["RoutingDataSource:Backends:1:ConnectionString"] = "Host=127.0.0.1;Port=2;Username=app",
    };

    private static OptionsValidationException StartFails(IConfiguration config, string section = "RoutingDataSource")
    {
        var services = new ServiceCollection();
        services.AddRoutingDataSource(config.GetSection(section));
        using var sp = services.BuildServiceProvider();
        return Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());
    }

    private static async Task<PgRoutingDataSource> StartsAsync(IConfiguration config, Func<ServiceProvider, Task<PgRoutingDataSource>> use)
    {
        var services = new ServiceCollection();
        services.AddRoutingDataSource(config.GetSection("RoutingDataSource"));
        await using var sp = services.BuildServiceProvider();
        sp.GetRequiredService<IStartupValidator>().Validate();
        return await use(sp);
    }

    [Fact]
    public void A_weight_that_is_not_a_number_fails_start_with_its_path_instead_of_dropping_the_backend()
    {
        var values = TwoBackends();
        values["RoutingDataSource:Backends:1:Weight"] = "heavy";
        var e = StartFails(Config(values));
        var problem = Assert.Single(e.Failures);
        Assert.Contains("RoutingDataSource:Backends:1:Weight", problem, StringComparison.Ordinal);
        Assert.Contains("'heavy'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Misspelled_keys_fail_start_each_with_its_path()
    {
        var values = TwoBackends();
        values["RoutingDataSource:Backends:1:Wieght"] = "2";
        values["RoutingDataSource:HealthCheckIntervall"] = "00:00:05";
        var e = StartFails(Config(values));
        Assert.Equal(2, e.Failures.Count());
        Assert.Contains(e.Failures, f => f.StartsWith("RoutingDataSource:Backends:1:Wieght: unknown setting", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.StartsWith("RoutingDataSource:HealthCheckIntervall: unknown setting", StringComparison.Ordinal)
                                         && f.Contains("HealthCheckInterval,", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_kind_of_problem_is_listed_together()
    {
        var values = TwoBackends("Backends:0:Weight=-1", "Backends:1:Weight=heavy", "HealthCheckTimeout=soon", "MaxReplicationLagBytes=16MB",
            "ReadYourWrites=Always", "PreferLowerLagStandby=yes", "HealthCheckInterval=0s", "Typo=1");
        var e = StartFails(Config(values));
        Assert.Equal(
        [
            "RoutingDataSource:Backends:0:Weight (n0): weight must be 0 or more (was -1).",
            "RoutingDataSource:Backends:1:Weight: 'heavy' is not a whole number.",
            "RoutingDataSource:HealthCheckInterval must be positive (was 00:00:00).",
            "RoutingDataSource:HealthCheckTimeout: 'soon' is not a duration (e.g. \"00:00:01\", \"1s\", \"500ms\").",
            "RoutingDataSource:MaxReplicationLagBytes: '16MB' is not a whole number.",
            "RoutingDataSource:PreferLowerLagStandby: 'yes' is not true or false.",
            "RoutingDataSource:ReadYourWrites: 'Always' is not one of None, Connection, DataSource.",
            "RoutingDataSource:Typo: unknown setting (known here: Backends, ClassificationCacheSize, FailoverTimeout, " + string.Join(", ", KnownAfterFailoverTimeout()) + ").",
        ], e.Failures.Order(StringComparer.Ordinal));
    }

    // Every public option is a setting (a new one included): the list a misspelled key is answered with.
    private static IEnumerable<string> KnownAfterFailoverTimeout()
        => typeof(RoutingOptions).GetProperties().Select(p => p.Name).Where(n => string.CompareOrdinal(n, "FailoverTimeout") > 0).Order(StringComparer.Ordinal);

    [Fact]
    public void Every_option_can_be_read_from_configuration()
    {
        var values = TwoBackends();
        foreach (var p in typeof(RoutingOptions).GetProperties())
        {
            var type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            var key = $"RoutingDataSource:{p.Name}";
            if (type == typeof(TimeSpan))
                values[key] = "1s";
            else if (type.IsEnum)
                values[key] = Enum.GetNames(type)[0];
            else if (type == typeof(bool))
                values[key] = "true";
            else if (typeof(IEnumerable<string>).IsAssignableFrom(type))
                values[key + ":0"] = "f_" + p.Name.ToLowerInvariant();
            else
                values[key] = "1";
        }
        var services = new ServiceCollection();
        services.AddRoutingDataSource(Config(values).GetSection("RoutingDataSource"));
        using var sp = services.BuildServiceProvider();
        sp.GetRequiredService<IStartupValidator>().Validate();
    }

    [Fact]
    public async Task A_whole_configuration_root_is_read_without_reporting_its_other_keys()
    {
        var values = TwoBackends();
        values["Logging:LogLevel:Default"] = "Information";
        var root = new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key.Replace("RoutingDataSource:", "", StringComparison.Ordinal), v => v.Value)).Build();
        var services = new ServiceCollection();
        services.AddRoutingDataSource(root);
        await using var sp = services.BuildServiceProvider();
        sp.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal(["n0", "n1"], sp.GetRequiredService<PgRoutingDataSource>().GetStatus().Backends.Select(b => b.Name));
    }

    [Fact]
    public void A_missing_or_misspelled_section_is_named()
    {
        var e = StartFails(Config(TwoBackends()), section: "RoutingDatasource:Cluster");
        Assert.Contains(e.Failures, f => f.StartsWith("RoutingDatasource:Cluster: the configuration section is missing or empty", StringComparison.Ordinal));
        Assert.DoesNotContain(e.Failures, f => f.Contains("call AddBackend", StringComparison.Ordinal));
    }

    [Fact]
    public void A_section_without_backends_names_where_they_go()
    {
        var e = StartFails(Config(new() { ["RoutingDataSource:HealthCheckInterval"] = "1s" }));
        Assert.StartsWith("RoutingDataSource:Backends: no backend configured", Assert.Single(e.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_connection_string_names_the_backend_and_its_key()
    {
        var values = TwoBackends();
        values["RoutingDataSource:Backends:1:ConnectionString"] = "Host=10.0.0.2;Password=hunter2;junk";
        var problem = Assert.Single(StartFails(Config(values)).Failures);
        Assert.StartsWith("RoutingDataSource:Backends:1:ConnectionString (n1): ", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("Format of the initialization string", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_connection_string_given_to_the_builder_names_the_backend()
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", "Host=10.0.0.1;Password=hunter2;junk");
        var problem = Assert.Single(Assert.Throws<RoutingConfigurationException>(() => b.Build()).Problems);
        Assert.StartsWith("backend 'n0': ", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("Format of the initialization string", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "RoutingDataSource:Backends:1:ConnectionString (n1): the connection string is empty.")] // the key left out
    [InlineData("Port=5432;Username=app", "RoutingDataSource:Backends:1:ConnectionString (n1): the connection string has no Host.")]
    [InlineData("Host=a,b;Username=app", "RoutingDataSource:Backends:1:ConnectionString (n1): one host per backend")]
    public void A_backend_without_a_usable_connection_string_is_named_by_its_path_and_name(string? connectionString, string expected)
    {
        var values = TwoBackends();
        values["RoutingDataSource:Backends:1:ConnectionString"] = connectionString;
        if (connectionString is null)
            values.Remove("RoutingDataSource:Backends:1:ConnectionString");
        Assert.StartsWith(expected, Assert.Single(StartFails(Config(values)).Failures), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=10.0.0.1;Port=abc;Password=hunter2", "the value of 'port' is not valid")]
    [InlineData("Host=10.0.0.1;Hots=10.0.0.2;Password=hunter2", "'hots' is not an Npgsql connection string keyword")]
    public void A_connection_string_with_a_bad_key_or_value_names_the_key(string connectionString, string expected)
    {
        var b = new PgRoutingDataSourceBuilder();
        b.AddBackend("n0", connectionString);
        var problem = Assert.Single(Assert.Throws<RoutingConfigurationException>(() => b.Build()).Problems);
        Assert.True(problem.Contains(expected, StringComparison.Ordinal), problem);
        Assert.DoesNotContain("hunter2", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Durations_accept_the_coordinators_units()
    {
        var values = TwoBackends("HealthCheckInterval=500ms", "FailoverTimeout=5s", "MaxReplicationLag=00:00:02", "ReadYourWritesWait=0.1s",
            "readyourwrites=datasource", "WriteFunctions:0=audit_write");
        var ds = await StartsAsync(Config(values), sp => Task.FromResult(sp.GetRequiredService<PgRoutingDataSource>()));
        Assert.Equal(TimeSpan.FromMilliseconds(500), ds.Options.HealthCheckInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), ds.Options.FailoverTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), ds.Options.MaxReplicationLag);
        Assert.Equal(TimeSpan.FromMilliseconds(100), ds.Options.ReadYourWritesWait);
        Assert.Equal(ReadYourWritesScope.DataSource, ds.Options.ReadYourWrites);
        Assert.Contains("audit_write", ds.Options.WriteFunctions);
    }

    [Fact]
    public async Task PrimaryServesReads_is_read_by_name_and_a_wrong_one_lists_the_choices()
    {
        var ds = await StartsAsync(Config(TwoBackends("PrimaryServesReads=byweight")), sp => Task.FromResult(sp.GetRequiredService<PgRoutingDataSource>()));
        Assert.Equal(PrimaryReadMode.ByWeight, ds.Options.PrimaryServesReads);
        Assert.Equal(PrimaryReadMode.WhenNoStandby, new RoutingOptions().PrimaryServesReads);
        Assert.Equal("RoutingDataSource:PrimaryServesReads: 'Sometimes' is not one of Never, WhenNoStandby, ByWeight.",
            Assert.Single(StartFails(Config(TwoBackends("PrimaryServesReads=Sometimes"))).Failures));
    }

    [Fact]
    public async Task An_empty_value_clears_a_limit_that_may_be_null()
    {
        var values = TwoBackends();
        values["RoutingDataSource:MaxReplicationLagBytes"] = "";
        values["RoutingDataSource:MaxReplicationLag"] = "";
        var ds = await StartsAsync(Config(values), sp => Task.FromResult(sp.GetRequiredService<PgRoutingDataSource>()));
        Assert.Null(ds.Options.MaxReplicationLagBytes);
        Assert.Null(ds.Options.MaxReplicationLag);
    }

    [Fact]
    public async Task Keyed_registrations_read_their_own_sections_and_validate_each()
    {
        var config = Config(new()
        {
            ["Orders:Backends:0:Name"] = "o0",
            ["Orders:Backends:0:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=app",
            ["Orders:FailoverTimeout"] = "2s",
            ["Audit:Backends:0:Name"] = "a0",
            ["Audit:Backends:0:ConnectionString"] = "Host=127.0.0.1;Port=2;Username=app",
        });
        var services = new ServiceCollection();
        services.AddRoutingDataSource("orders", config.GetSection("Orders"));
        services.AddRoutingDataSource("audit", config.GetSection("Audit"));
        services.AddRoutingDataSource("builder", b => b.AddBackend("b0", "Host=127.0.0.1;Port=3"));
        await using (var sp = services.BuildServiceProvider())
        {
            sp.GetRequiredService<IStartupValidator>().Validate();
            Assert.Null(sp.GetService<PgRoutingDataSource>());
            var orders = sp.GetRequiredKeyedService<PgRoutingDataSource>("orders");
            Assert.Same(orders, sp.GetRequiredKeyedService<System.Data.Common.DbDataSource>("orders"));
            Assert.Equal("o0", Assert.Single(orders.GetStatus().Backends).Name);
            Assert.Equal(TimeSpan.FromSeconds(2), orders.Options.FailoverTimeout);
            var audit = sp.GetRequiredKeyedService<PgRoutingDataSource>("audit");
            Assert.Equal("a0", Assert.Single(audit.GetStatus().Backends).Name);
            Assert.Equal(TimeSpan.FromSeconds(30), audit.Options.FailoverTimeout);
            Assert.Equal("b0", Assert.Single(sp.GetRequiredKeyedService<PgRoutingDataSource>("builder").GetStatus().Backends).Name);
        }

        services.AddRoutingDataSource("broken", config.GetSection("Brokn"));
        await using (var sp = services.BuildServiceProvider())
        {
            var e = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IStartupValidator>().Validate());
            Assert.All(e.Failures, f => Assert.StartsWith("Brokn", f, StringComparison.Ordinal));
        }
    }
}
