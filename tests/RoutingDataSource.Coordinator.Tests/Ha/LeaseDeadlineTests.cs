using System.Diagnostics;
using RoutingDataSource.Coordinator.Ha;

namespace RoutingDataSource.Coordinator.Tests.Ha;

public sealed class LeaseDeadlineTests
{
    [Theory]
    [InlineData(5, 1000, 1667, 1000)]
    [InlineData(3, 600, 1000, 750)]
    [InlineData(2, 500, 667, 500)]
    [InlineData(30, 6000, 10000, 1000)]
    public void The_margin_renewal_and_campaign_periods_scale_with_the_ttl(int ttlSeconds, int marginMs, int renewMs, int campaignMs)
    {
        var ttl = TimeSpan.FromSeconds(ttlSeconds);

        Assert.Equal(marginMs, LeaseDeadline.SafetyMargin(ttl).TotalMilliseconds, 0);
        Assert.Equal(renewMs, LeaseDeadline.RenewInterval(ttl).TotalMilliseconds, 0);
        Assert.Equal(campaignMs, LeaseDeadline.CampaignInterval(ttl).TotalMilliseconds, 0);
        // A renewal may fail once and the next still comes before the leader has to stop.
        Assert.True(2 * LeaseDeadline.RenewInterval(ttl) < ttl - LeaseDeadline.SafetyMargin(ttl));
    }

    [Fact]
    public void The_deadline_counts_from_when_the_renewal_was_sent_minus_the_margin()
    {
        var sent = Stopwatch.GetTimestamp();
        var ttl = TimeSpan.FromSeconds(5);

        var deadline = LeaseDeadline.After(sent, ttl, ttl, TimeProvider.System);

        Assert.Equal(TimeSpan.FromSeconds(4), TimeProvider.System.GetElapsedTime(sent, deadline));
    }

    [Fact]
    public void A_longer_ttl_granted_by_etcd_lengthens_the_deadline_but_the_margin_stays_that_of_the_ttl_asked()
    {
        var sent = Stopwatch.GetTimestamp();

        var deadline = LeaseDeadline.After(sent, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(5), TimeProvider.System);

        Assert.Equal(TimeSpan.FromSeconds(5), TimeProvider.System.GetElapsedTime(sent, deadline));
    }

    [Fact]
    public void A_ttl_no_longer_than_the_margin_gives_no_time_to_act()
    {
        var sent = Stopwatch.GetTimestamp();

        Assert.Equal(sent, LeaseDeadline.After(sent, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(2), TimeProvider.System));
    }
}
