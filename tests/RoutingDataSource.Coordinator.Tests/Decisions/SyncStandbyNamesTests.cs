using RoutingDataSource.Coordinator.Decisions;

namespace RoutingDataSource.Coordinator.Tests.Decisions;

public sealed class SyncStandbyNamesTests
{
    [Theory]
    [InlineData("ANY 1 (n1, n2)", "Any", 1, "n1,n2")]
    [InlineData("any 2 (\"N1\", n2, n3)", "Any", 2, "N1,n2,n3")]
    [InlineData("FIRST 1 (n1, n2)", "First", 1, "n1,n2")]
    [InlineData("2 (n1, n2)", "First", 2, "n1,n2")]
    [InlineData("n1, n2", "First", 1, "n1,n2")]
    [InlineData("n1", "First", 1, "n1")]
    [InlineData("*", "First", 1, "*")]
    [InlineData("ANY 1 (*)", "Any", 1, "*")]
    [InlineData("first", "First", 1, "first")]
    [InlineData("\"a \"\"b\"\"\"", "First", 1, "a \"b\"")]
    public void Parses_every_form_postgres_accepts(string text, string method, int count, string names)
    {
        var parsed = SyncStandbyNames.Parse(text)!;
        Assert.Equal(Enum.Parse<SyncMethod>(method), parsed.Method);
        Assert.Equal(count, parsed.Count);
        Assert.Equal(names.Split(','), parsed.Names);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    [InlineData("ANY 1 (n1")]
    [InlineData("ANY (n1)")]
    [InlineData("n1,,n2")]
    [InlineData("\"unclosed")]
    [InlineData("ANY 0 (n1)")]
    public void Empty_or_unreadable_is_asynchronous(string? text) => Assert.Null(SyncStandbyNames.Parse(text));

    [Fact]
    public void Names_match_without_case_as_in_postgres()
    {
        var s = SyncStandbyNames.Parse("ANY 1 (\"N1\", n2)")!;
        Assert.True(s.Includes("n1"));
        Assert.False(s.Includes("n3"));
        Assert.True(SyncStandbyNames.Parse("*")!.Includes("anything"));
    }

    [Fact]
    public void Renders_quoted_and_round_trips()
    {
        var s = SyncStandbyNames.Parse("any 1 (n1, \"N 2\")")!;
        Assert.Equal("ANY 1 (\"n1\", \"N 2\")", s.Render());
        Assert.Equal(s.Names, SyncStandbyNames.Parse(s.Render())!.Names);
    }

    [Fact]
    public void After_a_promotion_the_old_primary_takes_the_promoted_ones_place()
    {
        var s = SyncStandbyNames.Parse("ANY 1 (n1, n2)")!;
        Assert.Equal("ANY 1 (\"n2\", \"n0\")", s.After("n1", "n0", _ => true)!.Render());
        Assert.Equal("FIRST 1 (\"n2\", \"n0\")", SyncStandbyNames.Parse("FIRST 1 (n1, n2)")!.After("N1", "n0", _ => true)!.Render());
    }

    [Fact]
    public void After_a_promotion_the_count_is_capped_by_the_standbys_that_can_exist()
    {
        Assert.Equal("ANY 1 (\"n2\", \"n0\")", SyncStandbyNames.Parse("ANY 2 (n1, n2)")!.After("n1", "n0", _ => true)!.Render());
        // n3 is an earlier old primary still to rewind: it cannot acknowledge anything.
        Assert.Equal("ANY 1 (\"n2\", \"n3\", \"n0\")", SyncStandbyNames.Parse("ANY 2 (n1, n2, n3)")!.After("n1", "n0", n => n != "n3")!.Render());
    }

    [Fact]
    public void After_a_promotion_with_no_standby_left_replication_becomes_asynchronous()
    {
        Assert.Null(SyncStandbyNames.Parse("ANY 1 (n1)")!.After("n1", "n0", _ => true));
        Assert.Null(SyncStandbyNames.Parse("ANY 1 (n1, n3)")!.After("n1", "n0", n => n != "n3"));
        Assert.Equal("*", SyncStandbyNames.Parse("*")!.After("n1", "n0", _ => true)!.Names.Single());
    }
}
