using RoutingDataSource.Coordinator.Decisions;

namespace RoutingDataSource.Coordinator.Tests.Decisions;

public sealed class CandidateSelectorTests
{
    private static CandidateInfo Standby(string name, ulong lsn, int priority = 1, bool detached = false, bool reachable = true) =>
        new(name, priority, detached, reachable, InRecovery: true, reachable ? lsn : null);

    private static readonly CandidateInfo DeadPrimary = new("n0", 1, false, false, false, null, WasPrimary: true);

    [Fact]
    public void Highest_received_position_wins_then_priority_then_name()
    {
        Assert.Equal("n2", CandidateSelector.Choose([DeadPrimary, Standby("n1", 100), Standby("n2", 200)], "n0", null, false).Chosen!.Name);
        Assert.Equal("n2", CandidateSelector.Choose([DeadPrimary, Standby("n1", 100), Standby("n2", 100, priority: 5)], "n0", null, false).Chosen!.Name);
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n2", 100), Standby("n1", 100)], "n0", null, false);
        Assert.Equal(["n1", "n2"], choice.Acceptable.Select(c => c.Name));
        Assert.Contains("asynchronous replication on n0", choice.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void Priority_0_detached_and_unreachable_standbys_are_never_candidates()
    {
        var choice = CandidateSelector.Choose(
            [DeadPrimary, Standby("n1", 900, priority: 0), Standby("n2", 800, detached: true), Standby("n3", 700, reachable: false), Standby("n4", 100)],
            "n0", null, false);
        Assert.Equal("n4", choice.Chosen!.Name);
        Assert.Single(choice.Acceptable);
        Assert.Contains("n1: priority 0", choice.Evidence, StringComparison.Ordinal);
        Assert.Contains("n2: detached", choice.Evidence, StringComparison.Ordinal);
        Assert.Contains("n3: unreachable", choice.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void With_synchronous_replication_only_a_synchronous_standby_holding_every_acknowledged_commit_is_chosen()
    {
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n2)");
        // n3 is asynchronous and the most advanced: still not a candidate (the rule), n1 has everything acknowledged.
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400), Standby("n3", 600)], "n0", sync, false);
        Assert.Equal(["n1"], choice.Acceptable.Select(c => c.Name));
        Assert.Contains("n3: not synchronous", choice.Evidence, StringComparison.Ordinal);
        Assert.Contains("n2: behind", choice.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void With_quorum_commit_enough_synchronous_standbys_must_answer()
    {
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n2)");
        // n2 is unreachable and may hold commits n1 lacks: promoting n1 could lose them.
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 0, reachable: false)], "n0", sync, false);
        Assert.Null(choice.Chosen);
        Assert.Contains("only 1 of its 2 synchronous standby(s) answer, 2 must", choice.Evidence, StringComparison.Ordinal);

        // ANY 2 of 3: any 2 answering hold every acknowledged commit between them.
        var any2 = SyncStandbyNames.Parse("ANY 2 (n1, n2, n3)");
        Assert.Equal("n2", CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 600), Standby("n3", 0, reachable: false)], "n0", any2, false).Chosen!.Name);
    }

    [Fact]
    public void The_most_advanced_synchronous_standby_must_itself_be_promotable()
    {
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n2)");
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500, priority: 0), Standby("n2", 400)], "n0", sync, false);
        Assert.Null(choice.Chosen);
        Assert.Contains("n2: behind 0/1F4", choice.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void AllowDataLoss_takes_any_standby_when_no_synchronous_one_is_safe()
    {
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n2)");
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 0, reachable: false)], "n0", sync, allowDataLoss: true);
        Assert.Equal("n1", choice.Chosen!.Name);
        Assert.Contains("AllowDataLoss", choice.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void An_earlier_old_primary_not_rejoined_does_not_count_in_the_quorum()
    {
        // After n0 -> n2, n2 had ANY 1 (n1, n0); n0 is still an old primary on timeline 1 when n2 dies.
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n0)");
        CandidateInfo n2 = new("n2", 1, false, false, false, null, WasPrimary: true);
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), n2], "n2", sync, false);
        Assert.Equal("n1", choice.Chosen!.Name);
    }

    [Fact]
    public void A_synchronous_name_that_is_not_a_member_counts_as_an_unreachable_quorum_member()
    {
        // barman may be the only one that flushed a commit: n1 and n2 together do not prove they hold it.
        var sync = SyncStandbyNames.Parse("ANY 1 (n1, n2, barman)");
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400)], "n0", sync, false, receivers: ["n1", "n2", "barman"]);
        Assert.Null(choice.Chosen);
        Assert.Contains("only 2 of its 3 synchronous standby(s) answer, 3 must", choice.Evidence, StringComparison.Ordinal);
        Assert.Contains("barman", choice.Evidence, StringComparison.Ordinal);

        // Not connected when last seen: it still may have acknowledged a commit before.
        Assert.Null(CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400)], "n0", sync, false, receivers: []).Chosen);

        // ANY 2 of 3: the two members that answer include one of any two that acknowledged.
        var any2 = SyncStandbyNames.Parse("ANY 2 (n1, n2, barman)");
        Assert.Equal("n1", CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400)], "n0", any2, false, receivers: ["barman"]).Chosen!.Name);
    }

    [Fact]
    public void With_a_star_every_receiver_that_is_not_a_member_counts_as_an_unreachable_quorum_member()
    {
        var sync = SyncStandbyNames.Parse("ANY 1 (*)");
        var choice = CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400)], "n0", sync, false, receivers: ["n1", "n2", "pg_receivewal"]);
        Assert.Null(choice.Chosen);
        Assert.Contains("pg_receivewal", choice.Evidence, StringComparison.Ordinal);

        // Only members streamed: as before.
        Assert.Equal("n1", CandidateSelector.Choose([DeadPrimary, Standby("n1", 500), Standby("n2", 400)], "n0", sync, false, receivers: ["n1", "N2"]).Chosen!.Name);
    }
}
