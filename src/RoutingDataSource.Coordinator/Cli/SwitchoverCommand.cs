using System.CommandLine;
using System.Globalization;
using RoutingDataSource.Coordinator.Cluster;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary>
/// <c>routing-coordinator switchover --to NAME [--at TIME]</c>: a planned switchover from the live primary (POST
/// /switchover); with <c>--at</c> the command itself waits until then before it asks.
/// </summary>
internal static class SwitchoverCommand
{
    public static Command Create(Option<string> url, Option<string?> token, TextWriter output, TextWriter error)
    {
        var to = new Option<string>("--to") { Description = "The standby to promote (it must be synchronous when replication is, and caught up within SwitchoverMaxLagBytes)", Required = true };
        var at = new Option<string?>("--at") { Description = "When, as an ISO 8601 time (e.g. 2026-12-02T03:00:00Z); this command waits until then" };
        var switchover = new Command("switchover", "Planned switchover: the primary shuts down cleanly, the candidate is promoted once it has every commit, the old primary follows it (its agent)") { to, at, url, token };
        switchover.SetAction(async (r, ct) =>
        {
            if (r.GetValue(at) is { } when)
            {
                if (!DateTimeOffset.TryParse(when, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var moment))
                {
                    error.WriteLine($"routing-coordinator: --at '{when}' is not a time (e.g. 2026-12-02T03:00:00Z).");
                    return 2;
                }
                var wait = moment - DateTimeOffset.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    output.WriteLine($"routing-coordinator: switchover to {r.GetValue(to)} at {moment.UtcDateTime:u} (in {wait.TotalSeconds:0} s)");
                    await Task.Delay(wait, ct).ConfigureAwait(false);
                }
            }
            return await CommandLine.PostAsync(r.GetValue(url)!, r.GetValue(token), "switchover", new FailoverRequest(r.GetValue(to)), output, error, ct).ConfigureAwait(false);
        });
        return switchover;
    }
}
