using System.Reflection;
using NetArchTest.Rules;

namespace RoutingDataSource.Tests.Architecture;

/// <summary>
/// The folders' dependencies point one way (README, Layout): Classification &lt;- Routing &lt;- Connections and
/// Topology &lt;- Routing; Resilience sits beside Connections' callers. Nothing below Connections knows a connection,
/// nor the data source facade built on top of them.
/// </summary>
public sealed class DependencyDirectionTests
{
    private const string Root = "RoutingDataSource";

    // What only the top may know: the connection layer (its public types live in the one public namespace) and the
    // facade that hands connections out.
    private static readonly string[] ConnectionLayer =
    [
        Root + ".Connections",
        Root + "." + nameof(RoutingConnection),
        Root + "." + nameof(RoutingCommand),
        Root + "." + nameof(RoutingBatch),
        Root + "." + nameof(RoutingTransaction),
        Root + "." + nameof(RoutingDataReader),
        Root + "." + nameof(PgRoutingDataSource),
    ];

    public static TheoryData<string, string[]> Rules => new()
    {
        { Root + ".Classification", [.. ConnectionLayer, Root + ".Routing", Root + ".Topology", Root + ".Resilience"] },
        { Root + ".Topology", [.. ConnectionLayer, Root + ".Routing", Root + ".Resilience"] },
        { Root + ".Routing", [.. ConnectionLayer, Root + ".Resilience"] },
        { Root + ".Resilience", ConnectionLayer },
        { Root + ".Diagnostics", ConnectionLayer },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void A_folder_depends_only_on_the_folders_below_it(string folder, string[] forbidden)
        => AssertNoDependency(typeof(PgRoutingDataSource).Assembly, folder, forbidden);

    [Fact]
    public void The_check_sees_a_dependency_against_the_direction()
    {
        // The rule itself must be able to fail: this test class depends on the facade.
        var result = Types.InAssembly(typeof(DependencyDirectionTests).Assembly).That().HaveName(nameof(DependencyDirectionTests))
            .ShouldNot().HaveDependencyOnAny(Root + ".PgRoutingDataSource").GetResult();
        Assert.False(result.IsSuccessful);
    }

    [Fact]
    public void The_facade_type_name_does_not_also_match_its_builder()
    {
        // PgRoutingDataSourceBuilder is configuration, which every folder may read; only the facade is forbidden.
        var result = Types.InAssembly(typeof(DependencyDirectionTests).Assembly).That().HaveName(nameof(UsesTheBuilderOnly))
            .ShouldNot().HaveDependencyOnAny(Root + ".PgRoutingDataSource").GetResult();
        Assert.True(result.IsSuccessful, Describe(result));
    }

    private static class UsesTheBuilderOnly
    {
        public static RoutingOptions Options(PgRoutingDataSourceBuilder builder) => builder.Options;
    }

    private static void AssertNoDependency(Assembly assembly, string folder, string[] forbidden)
    {
        var result = Types.InAssembly(assembly).That().ResideInNamespace(folder).ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        Assert.True(result.IsSuccessful, $"{folder} must not depend on {string.Join(", ", forbidden)}: {Describe(result)}");
    }

    private static string Describe(TestResult result)
        => result.FailingTypes is null ? "" : string.Join("; ", result.FailingTypes.Select(t => t.FullName + (t.Explanation is { Length: > 0 } e ? " (" + e + ")" : "")));
}
