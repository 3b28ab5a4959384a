using Npgsql;
using RoutingDataSource.Topology;

namespace RoutingDataSource.Tests.Connections;

/// <summary>Which notices mean that a commit's synchronous wait was cut short (PostgreSQL 15's syncrep.c messages).</summary>
public sealed class CommitWarningsTests
{
    [Theory]
    [InlineData("WARNING", "01000", "canceling wait for synchronous replication due to user request",
        "The transaction has already committed locally, but might not have been replicated to the standby.", true)]
    [InlineData("WARNING", "57P01", "canceling the wait for synchronous replication and terminating connection due to administrator command",
        "The transaction has already committed locally, but might not have been replicated to the standby.", true)]
    [InlineData("WARNING", "01000", "something else entirely", "The transaction has already committed locally, but might not have been replicated to the standby.", true)]
    [InlineData("WARNING", "25P01", "there is no transaction in progress", null, false)]
    [InlineData("NOTICE", "00000", "canceling wait for synchronous replication due to user request", null, false)]
    [InlineData("WARNING", "01000", "unrelated warning", null, false)]
    public void A_notice_is_a_cut_short_synchronous_wait_only_when_it_says_so(string severity, string sqlState, string message, string? detail, bool cutShort)
        => Assert.Equal(cutShort, CommitWarnings.IsSyncWaitCutShort(new PostgresNotice(message, severity, severity, sqlState, detail)));
}
