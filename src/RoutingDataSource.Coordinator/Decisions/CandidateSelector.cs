using System.Globalization;

namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>
/// One server as the candidate choice sees it, from the round that found the primary dead. <paramref name="WasPrimary"/>:
/// last seen as a primary (an earlier old primary not rejoined yet), so it cannot have acknowledged a commit as a standby.
/// </summary>
internal sealed record CandidateInfo(string Name, int Priority, bool Detached, bool Reachable, bool InRecovery, ulong? ReceivedLsn, bool WasPrimary = false)
{
    /// <summary>Could have flushed commits of the old primary as its standby: answers as a standby, or is unreachable and was one.</summary>
    public bool MayBeStandby => Reachable ? InRecovery : !WasPrimary;

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({Lsn.Format(ReceivedLsn)}, priority {Priority})");
}

/// <summary>The standbys that may be promoted, best first (the first is <see cref="Chosen"/>), and why.</summary>
internal sealed record CandidateChoice(IReadOnlyList<CandidateInfo> Acceptable, string Evidence)
{
    public CandidateInfo? Chosen => Acceptable.Count > 0 ? Acceptable[0] : null;
}

/// <summary>
/// Which standby to promote. Reachable standbys with Priority &gt; 0 that are not detached; when the old primary
/// had synchronous replication, only synchronous standbys that hold every acknowledged commit (unless
/// AllowDataLoss), every synchronous receiver counting in that proof, members or not (<c>receivers</c>: the
/// application names of the old primary's last <c>pg_stat_replication</c>); then the highest received WAL position,
/// then Priority, then name. Pure.
/// </summary>
internal static class CandidateSelector
{
    public static CandidateChoice Choose(IReadOnlyList<CandidateInfo> members, string oldPrimary, SyncStandbyNames? sync, bool allowDataLoss,
        IReadOnlyCollection<string>? receivers = null)
    {
        var standbys = members.Where(m => !string.Equals(m.Name, oldPrimary, StringComparison.Ordinal)).ToArray();
        var rejected = new List<string>();
        var eligible = new List<CandidateInfo>();
        foreach (var m in standbys)
        {
            var why = !m.Reachable ? "unreachable"
                : !m.InRecovery ? "not a standby"
                : m.Priority <= 0 ? "priority 0"
                : m.Detached ? "detached"
                : null;
            if (why is null)
                eligible.Add(m);
            else
                rejected.Add($"{m.Name}: {why}");
        }

        string basis;
        IEnumerable<CandidateInfo> acceptable = eligible;
        if (sync is not null && !allowDataLoss)
        {
            // Every acknowledged commit was flushed by `Count` of the named standbys, so any N - Count + 1 of them
            // include one that has it: the most advanced of those is the position no candidate may be behind.
            // Receivers that are not members (a backup's pg_receivewal, barman) may have flushed a commit no member has:
            // each counts as a quorum member that does not answer.
            var quorum = standbys.Where(m => sync.Includes(m.Name) && m.MayBeStandby).ToArray();
            var outsiders = Outsiders(members, sync, receivers ?? []);
            var answering = quorum.Where(m => m.Reachable && m.InRecovery).ToArray();
            var size = quorum.Length + outsiders.Count;
            var needed = Math.Max(1, size - sync.Count + 1);
            if (answering.Length < needed)
            {
                var others = outsiders.Count == 0 ? "" : $"; {string.Join(", ", outsiders)}: not a member, counted as not answering";
                return new CandidateChoice([], string.Create(CultureInfo.InvariantCulture,
                    $"synchronous replication ({sync}) on {oldPrimary}: only {answering.Length} of its {size} synchronous standby(s) answer, {needed} must to be sure no acknowledged commit is lost (AllowDataLoss is off){others}{Rejected(rejected)}"));
            }
            var safe = answering.Max(m => m.ReceivedLsn ?? 0);
            foreach (var m in eligible)
            {
                if (!sync.Includes(m.Name))
                    rejected.Add($"{m.Name}: not synchronous");
                else if ((m.ReceivedLsn ?? 0) < safe)
                    rejected.Add($"{m.Name}: behind {Lsn.Format(safe)}");
            }
            acceptable = eligible.Where(m => sync.Includes(m.Name) && (m.ReceivedLsn ?? 0) >= safe);
            basis = $"synchronous replication ({sync}) on {oldPrimary}: candidates hold every acknowledged commit (at or past {Lsn.Format(safe)})";
        }
        else
        {
            basis = sync is null
                ? $"asynchronous replication on {oldPrimary}"
                : $"synchronous replication ({sync}) on {oldPrimary}, but AllowDataLoss is on: any standby";
        }

        var ordered = acceptable
            .OrderByDescending(m => m.ReceivedLsn ?? 0)
            .ThenByDescending(m => m.Priority)
            .ThenBy(m => m.Name, StringComparer.Ordinal)
            .ToArray();
        var evidence = ordered.Length == 0
            ? $"no standby can be promoted; {basis}{Rejected(rejected)}"
            : $"{ordered[0].Name} chosen from {string.Join(", ", ordered.Select(m => m.Describe()))}; {basis}{Rejected(rejected)}";
        return new CandidateChoice(ordered, evidence);
    }

    /// <summary>
    /// The synchronous names that are no member: those of the list, or with <c>*</c> every receiver of the old
    /// primary's last <c>pg_stat_replication</c> that is no member (names compared without case, as PostgreSQL does).
    /// </summary>
    private static List<string> Outsiders(IReadOnlyList<CandidateInfo> members, SyncStandbyNames sync, IReadOnlyCollection<string> receivers)
    {
        var names = sync.MatchesAll ? receivers : sync.Names.Where(n => n != "*");
        return names
            .Where(n => !members.Any(m => string.Equals(m.Name, n, StringComparison.OrdinalIgnoreCase)))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
    }

    private static string Rejected(List<string> rejected) => rejected.Count == 0 ? "" : $"; not candidates: {string.Join(", ", rejected)}";
}
