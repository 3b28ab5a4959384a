using RoutingDataSource.Routing;

namespace RoutingDataSource.Tests.Routing;

/// <summary>The one deadline type of the bounded waits, on a clock the test moves.</summary>
public sealed class DeadlineTests
{
    private sealed class ManualClock : TimeProvider
    {
        public long Now { get; set; } = 1_000;

        public override long TimestampFrequency => 1_000; // milliseconds

        public override long GetTimestamp() => Now;
    }

    [Fact]
    public void A_deadline_passes_when_its_budget_is_spent_and_counts_down_until_then()
    {
        var clock = new ManualClock();
        var deadline = Deadline.After(TimeSpan.FromSeconds(2), clock);
        Assert.False(deadline.HasPassed);
        Assert.Equal(TimeSpan.FromSeconds(2), deadline.Remaining);
        clock.Now += 1_500;
        Assert.Equal(TimeSpan.FromMilliseconds(500), deadline.Remaining);
        clock.Now += 500;
        Assert.True(deadline.HasPassed);
        Assert.Equal(TimeSpan.Zero, deadline.Remaining);
        clock.Now += 10_000;
        Assert.Equal(TimeSpan.Zero, deadline.Remaining);
    }

    [Fact]
    public void A_zero_budget_has_passed_at_once()
        => Assert.True(Deadline.After(TimeSpan.Zero, new ManualClock()).HasPassed);
}
