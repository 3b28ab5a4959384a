using System.Globalization;
using System.Text;
using RoutingDataSource.Chaos.Faults;
using RoutingDataSource.Chaos.Results;
using Xunit.Abstractions;

namespace RoutingDataSource.Chaos.Tests;

/// <summary>
/// The chaos soak of <c>./build.sh chaos</c> cut down to four faults with a fixed seed (a primary crash, a leader
/// coordinator crash, a primary freeze, a standby crash), on real servers with three coordinators in-process in HA
/// mode on a real 3-member etcd: the checker's invariants must hold, one promotion per failover, never two leaders,
/// and etcd's durable state names the final primary. About a minute and a half on two cores. Logs of the run:
/// artifacts/chaos/test-*.
/// </summary>
public sealed class ShortSoakTests(ITestOutputHelper output)
{
    private const int Seed = 18;

    [Fact]
    public async Task Crash_leader_crash_freeze_and_standby_crash_lose_no_acknowledged_write_promote_once_each_and_surface_only_routing_exceptions()
    {
        var root = Repository.Root();
        var settings = new ChaosSettings
        {
            Seed = Seed,
            Coordinators = 3,
            FixedFaults = [FaultKind.CrashPrimary, FaultKind.CrashLeader, FaultKind.FreezePrimary, FaultKind.CrashStandby],
            ArtifactsDirectory = Path.Combine(root, "artifacts", "chaos", "test-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)),
            Command = "dotnet test tests/RoutingDataSource.Chaos.Tests",
            RepositoryRoot = root,
        };
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        using var progress = new OutputWriter(output);
        var report = await ChaosRun.RunAsync(settings, progress, bound.Token);

        var c = report.Check;
        output.WriteLine(ResultsWriter.FaultTable(report));
        output.WriteLine(c.Line());
        foreach (var sample in report.RawErrorSamples.Take(5))
            output.WriteLine("raw error: " + sample);
        foreach (var line in report.LogSamples.Take(5))
            output.WriteLine("client log: " + line);

        Assert.Null(report.HarnessError);
        Assert.Equal(4, report.Faults.Count);
        Assert.Equal(3, report.Coordinators);
        Assert.Multiple(
            () => Assert.True(c.Problem is null, c.Problem),
            () => Assert.True(c.Lost == 0, $"{c.Lost} acknowledged writes lost: {string.Join(" / ", c.LostSamples.Take(3))}"),
            () => Assert.True(c.Phantoms == 0, $"{c.Phantoms} phantoms: {string.Join(" / ", c.PhantomSamples.Take(3))}"),
            () => Assert.True(c.RawWriteErrors == 0, $"{c.RawWriteErrors} raw write errors: {string.Join(" / ", report.RawErrorSamples.Take(2))}"),
            () => Assert.True(c.Misuse == 0, $"{c.Misuse} in-progress/protocol errors: {string.Join(", ", c.MisuseByPattern.Select(p => $"{p.Key} x{p.Value}"))}"),
            () => Assert.True(c.FailedReads == 0, $"{c.FailedReads} of {c.Reads} reads failed: {string.Join("; ", report.Operations.Where(o => o.Key.StartsWith("Read:", StringComparison.Ordinal) && !o.Key.EndsWith("acknowledged", StringComparison.Ordinal)).Select(o => $"{o.Key} x{o.Value}"))}"),
            () => Assert.True(c.WrongTotals == 0, $"{c.WrongTotals} reads saw a wrong total"),
            () => Assert.True(c.BalanceOk, $"total {c.FinalTotal}, {c.LedgerMismatches} accounts off the ledger"),
            () => Assert.True(c.WritableServers.Count == 1, $"writable: {string.Join(", ", c.WritableServers)}"),
            () => Assert.True(c.ReplicasIdentical, string.Join("; ", c.ReplicaDifferences)),
            () => Assert.True(c.Failovers >= 1 && c.OnePromotionPerFailover, $"{c.PromoteRequests} promote requests for {c.Failovers} failovers"),
            () => Assert.True(c.TwoLeaderSamples == 0 && c.LeaderSamples > 0, $"two leaders in {c.TwoLeaderSamples} of {c.LeaderSamples} samples: {string.Join("; ", c.TwoLeaderMoments)}"),
            () => Assert.True(report.Faults.Single(f => f.Fault.Kind == FaultKind.CrashLeader).Fault.NewLeader is not null, "no other coordinator led after the leader crashed"),
            () => Assert.True(c.DurableStateOk, $"etcd's durable state names {c.DurablePrimary ?? "no primary"}, the final primary is {c.FinalPrimary}"));
    }

    /// <summary>The soak's progress lines into the test output (late lines after the test ended are dropped).</summary>
    private sealed class OutputWriter(ITestOutputHelper output) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            lock (_line)
            {
                if (value == '\n')
                {
                    Flush(_line.ToString().TrimEnd('\r'));
                    _line.Clear();
                }
                else
                {
                    _line.Append(value);
                }
            }
        }

        public override void WriteLine(string? value)
        {
            lock (_line)
            {
                Flush(_line + (value ?? ""));
                _line.Clear();
            }
        }

        private void Flush(string line)
        {
            try
            {
                output.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
                // The test has ended.
            }
        }
    }
}
