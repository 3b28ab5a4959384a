using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Routing;

/// <summary>Read-your-writes as arithmetic: the replay position a standby needs, from the scope, the writes and a causality token.</summary>
public sealed class ReadRequirementTests : IAsyncDisposable
{
    private readonly PolicyFixtures _f = new(0, 1);

    // Rounds started at t=100, 200, 300 and sampled the primary's insert position 1000, 2000, 3000.
    private ClusterSnapshot Snapshot() => PolicyFixtures.Snapshot(_f.Node(0, BackendRole.Primary), [new(100, 1000), new(200, 2000), new(300, 3000)],
        _f.Node(1, BackendRole.Standby));

    [Theory]
    [InlineData(ReadYourWritesScope.Connection, 0L, 0L, 0UL, 0L, 0UL)] // nothing written, no token: no requirement
    [InlineData(ReadYourWritesScope.Connection, 150L, 0L, 0UL, 0L, 2000UL)] // the first sample after the write
    [InlineData(ReadYourWritesScope.Connection, 100L, 0L, 0UL, 0L, 2000UL)] // a sample taken at the write's instant may predate it
    [InlineData(ReadYourWritesScope.Connection, 50L, 0L, 0UL, 0L, 1000UL)]
    [InlineData(ReadYourWritesScope.Connection, 150L, 0L, 2500UL, 0L, 2500UL)] // a token past the write wins
    [InlineData(ReadYourWritesScope.Connection, 250L, 0L, 1500UL, 0L, 3000UL)] // a write past the token wins
    [InlineData(ReadYourWritesScope.Connection, 0L, 250L, 0UL, 0L, 0UL)] // another connection's write is not this scope's
    [InlineData(ReadYourWritesScope.DataSource, 0L, 250L, 0UL, 0L, 3000UL)]
    [InlineData(ReadYourWritesScope.DataSource, 150L, 50L, 0UL, 0L, 2000UL)] // the later of the two writes
    [InlineData(ReadYourWritesScope.None, 250L, 250L, 0UL, 0L, 0UL)] // off: writes are ignored
    [InlineData(ReadYourWritesScope.None, 250L, 250L, 1500UL, 0L, 1500UL)] // ... but a token is always honoured
    [InlineData(ReadYourWritesScope.Connection, 300L, 0L, 0UL, 0L, ReadRequirement.Unresolved)] // no round has started since: unknown
    [InlineData(ReadYourWritesScope.DataSource, 0L, 350L, 7000UL, 0L, ReadRequirement.Unresolved)]
    public void The_minimum_replay_position_follows_the_scope_the_writes_and_the_token(
        ReadYourWritesScope scope, long connectionWrite, long dataSourceWrite, ulong tokenLsn, long tokenAt, ulong expected)
    {
        Assert.Equal(expected, ReadRequirement.MinimumLsn(Snapshot(), scope, connectionWrite, 0, dataSourceWrite, 0, tokenLsn, tokenAt));
    }

    [Theory]
    [InlineData(0UL, 150L, 0UL)] // no token
    [InlineData(2500UL, 350L, 2500UL)] // at or before a position the primary was seen at: a true position, kept
    [InlineData(ulong.MaxValue, 150L, 2000UL)] // "c1.ffffffffffffffff": clamped to the first sample after it was presented
    [InlineData(ulong.MaxValue - 1, 50L, 1000UL)]
    [InlineData(9000UL, 250L, 3000UL)] // past the primary's insert position when presented: clamped
    [InlineData(9000UL, 350L, ReadRequirement.Unresolved)] // no round since it was presented: unknown for one round, like a write
    public void A_causality_token_is_bounded_by_the_primary_position_when_it_was_presented(ulong tokenLsn, long tokenAt, ulong expected)
    {
        Assert.Equal(expected, ReadRequirement.MinimumLsn(Snapshot(), ReadYourWritesScope.None, 0, 0, 0, 0, tokenLsn, tokenAt));
    }

    [Theory]
    [InlineData(ReadYourWritesScope.Connection, 350L, 3500UL, 0L, 0UL, 3500UL)] // the write's own commit position: no round needed
    [InlineData(ReadYourWritesScope.Connection, 150L, 1500UL, 0L, 0UL, 1500UL)] // ... and not the later sample either
    [InlineData(ReadYourWritesScope.DataSource, 0L, 0UL, 0L, 3600UL, 3600UL)] // another connection's known position
    [InlineData(ReadYourWritesScope.DataSource, 150L, 1500UL, 350L, 3600UL, ReadRequirement.Unresolved)] // a write of unknown position since the last round
    [InlineData(ReadYourWritesScope.DataSource, 150L, 1500UL, 250L, 2600UL, 3000UL)] // ... covered by the sample after it
    [InlineData(ReadYourWritesScope.Connection, 0L, 0UL, 250L, 3600UL, 0UL)] // the data source's writes are not this scope's
    public void A_known_commit_position_is_the_requirement_without_waiting_for_a_probe(
        ReadYourWritesScope scope, long connectionWrite, ulong connectionWriteLsn, long unpositioned, ulong dataSourceWriteLsn, ulong expected)
    {
        Assert.Equal(expected, ReadRequirement.MinimumLsn(Snapshot(), scope, connectionWrite, connectionWriteLsn, unpositioned, dataSourceWriteLsn, 0, 0));
    }

    public ValueTask DisposeAsync() => _f.DisposeAsync();
}
