using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using RoutingDataSource.Chaos.Checking;
using RoutingDataSource.Chaos.Cluster;
using RoutingDataSource.Chaos.Faults;
using RoutingDataSource.Chaos.Results;
using RoutingDataSource.Benchmarks.Common;
using RoutingDataSource.Chaos.Workload;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Chaos;

/// <summary>
/// One soak: start the cluster, the coordinator and the data source; run the workload; inflict the seeded faults one
/// after the other, each on a whole cluster; then stop the workload and check. Everything started is stopped before
/// this returns, also when a step fails; a harness failure is reported in the result, not hidden.
/// </summary>
internal static class ChaosRun
{
    public static async Task<ChaosReport> RunAsync(ChaosSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var clock = new RunClock();
        var loadAtStart = MachineInfo.LoadAverage().One;
        var sequence = settings.Sequence();
        Directory.CreateDirectory(settings.ArtifactsDirectory);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(settings.Budget());
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"chaos soak: seed {settings.Seed}, {settings.Mode()}, {sequence.Count} faults ({string.Join(", ", sequence)}); logs in {settings.ArtifactsDirectory}"));

        var firstChance = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        void OnFirstChance(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            foreach (var p in LogFile.MatchingPatterns(e.Exception.Message))
                firstChance.AddOrUpdate(p, 1, (_, n) => n + 1);
        }

        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        using var stalls = new ThreadPoolStalls(clock);
        var records = new List<FaultRecord>();
        string? harnessError = null;
        CheckResult check;
        ChaosCluster cluster;
        BankWorkload workload;
        try
        {
            cluster = await ChaosCluster.StartAsync(clock, settings.ArtifactsDirectory, settings.Coordinators, settings.Agents, Bank.CreateAsync, budget.Token);
        }
        catch
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
            throw;
        }

        await using (cluster)
        {
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Now,7:0.0}] cluster up: {cluster.Cluster}, coordinators {cluster.Coordinators.Describe()}"));
            workload = new BankWorkload(cluster.DataSource, clock, settings.Seed);
            workload.Start();
            try
            {
                await InjectAsync(cluster, settings, sequence, records, progress, budget.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                harnessError = $"{e.GetType().Name}: {e.Message}";
                progress.WriteLine($"[{clock.Now,7:0.0}] harness failed: {e}");
            }
            finally
            {
                await workload.StopAsync(TimeSpan.FromSeconds(45));
                AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
            }

            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Now,7:0.0}] workload stopped ({workload.Operations.Count} operations); checking"));
            using var finish = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try
            {
                await RepairAsync(cluster, settings, finish.Token);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                harnessError ??= $"the cluster could not be made whole for the check: {e.Message.Split('\n')[0]}";
            }

            check = await Checker.CheckAsync(cluster, workload.Operations, finish.Token);
            check = await Checker.CheckCoordinationAsync(cluster, check, records, finish.Token);
            cluster.ClientLog.Flush();
            await WriteOperationsAsync(Path.Combine(settings.ArtifactsDirectory, "operations.csv"), workload.Operations, finish.Token);
        }

        var operations = workload.Operations.OrderBy(o => o.End).ToList();
        var acknowledged = operations.Where(o => o.IsWrite && o.Outcome == Outcome.Acknowledged).Select(o => o.End).ToList();
        var faults = records.Select(f => FaultStats.Of(f, operations, acknowledged, stalls)).ToList();
        var finished = DateTimeOffset.Now;
        var misuse = new Dictionary<string, int>(check.MisuseByPattern, StringComparer.Ordinal);
        foreach (var (k, v) in firstChance)
            misuse[k + " (thrown anywhere in the process, caught or not)"] = v;
        var report = new ChaosReport
        {
            StartedAt = clock.StartedAt,
            FinishedAt = finished,
            Seed = settings.Seed,
            Command = settings.Command,
            Reproduce = (settings.FixedFaults is null
                ? string.Create(CultureInfo.InvariantCulture, $"./build.sh chaos {settings.Faults} {settings.Seed}")
                : string.Create(CultureInfo.InvariantCulture, $"./build.sh chaos {sequence.Count} {settings.Seed} --sequence {string.Join(',', sequence)}"))
                + (settings.Coordinators == ChaosSettings.DefaultCoordinators ? "" : string.Create(CultureInfo.InvariantCulture, $" --coordinators {settings.Coordinators}")),
            Coordinators = settings.Coordinators,
            Mode = settings.Mode(),
            Machine = await MachineInfo.DescribeAsync(settings.RepositoryRoot, cluster.Cluster.ServerVersion, components: [], kernelInOperatingSystem: false, CancellationToken.None),
            LoadAverage = [loadAtStart, MachineInfo.LoadAverage().One],
            FaultsPlanned = sequence.Count,
            Sequence = sequence.Select(k => k.ToString()).ToList(),
            Faults = faults,
            Check = check with { MisuseByPattern = misuse },
            Targets = Targets.Evaluate(check, faults, harnessError, settings.Agents),
            Operations = operations
                .GroupBy(o => $"{o.Kind}: {(o.ErrorLabel.Length == 0 ? "acknowledged" : o.ErrorLabel)}", StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.LongCount(), StringComparer.Ordinal),
            RawErrorSamples = workload.RawSamples.ToList(),
            LogSamples = cluster.ClientLog.Samples.ToList(),
            ClientLogWarnings = cluster.ClientLog.Warnings,
            ClientLogErrors = cluster.ClientLog.Errors,
            Artifacts = settings.RepositoryRoot is { } root ? Path.GetRelativePath(root, settings.ArtifactsDirectory) : settings.ArtifactsDirectory,
            MaxThreadPoolDelaySeconds = stalls.MaxDelay(0, double.MaxValue),
            HarnessError = harnessError,
        };
        ResultsWriter.Write(report, settings.ArtifactsDirectory);
        return report;
    }

    private static async Task InjectAsync(ChaosCluster cluster, ChaosSettings settings, IReadOnlyList<FaultKind> sequence, List<FaultRecord> records, TextWriter progress, CancellationToken cancellationToken)
    {
        var clock = cluster.Clock;
        var random = new Random(unchecked((settings.Seed * 7919) + 1));
        var injector = new FaultInjector(cluster, settings, random, progress);
        await Task.Delay(settings.Warmup, cancellationToken);
        var next = clock.Now;
        for (var i = 0; i < sequence.Count; i++)
        {
            // Drawn whatever happens, so that the same seed gives the same targets and timing.
            var jitter = (random.NextDouble() * 2 - 1) * settings.FaultJitter.TotalSeconds;
            if (next > clock.Now)
                await Task.Delay(TimeSpan.FromSeconds(next - clock.Now), cancellationToken);
            await injector.RunAsync(i + 1, sequence[i], records, cancellationToken);
            next = Math.Max(records[^1].Injected + settings.FaultInterval.TotalSeconds + jitter, clock.Now + 1);
        }

        await Task.Delay(settings.Tail, cancellationToken);
    }

    /// <summary>After a harness failure: thaw, heal, restart and rejoin what is left broken, so that the check sees one cluster.</summary>
    private static async Task RepairAsync(ChaosCluster cluster, ChaosSettings settings, CancellationToken cancellationToken)
    {
        foreach (var node in cluster.Nodes)
        {
            await node.ThawAsync(cancellationToken);
            cluster.Paths(node).Heal();
        }

        LocalPgNode primary;
        try
        {
            primary = await cluster.WaitUntilWholeAsync(TimeSpan.FromSeconds(20), cancellationToken);
            return;
        }
        catch (TimeoutException)
        {
            primary = await cluster.CurrentPrimaryAsync(cancellationToken)
                ?? throw new InvalidOperationException("No primary to repair the cluster around.");
        }

        foreach (var node in cluster.Nodes.Where(n => n != primary))
        {
            var answersAsPrimary = node.IsRunning && await IsPrimaryAsync(node, cancellationToken);
            if (!node.IsRunning || answersAsPrimary)
                await Rejoin.RejoinAsync(cluster, node, primary, cancellationToken);
        }

        await cluster.WaitUntilWholeAsync(settings.RecoveryTimeout, cancellationToken);
    }

    private static async Task<bool> IsPrimaryAsync(LocalPgNode node, CancellationToken cancellationToken)
    {
        try
        {
            return !await node.IsInRecoveryAsync(cancellationToken);
        }
        catch (Npgsql.NpgsqlException)
        {
            return false;
        }
    }

    private static async Task WriteOperationsAsync(string path, IReadOnlyCollection<Operation> operations, CancellationToken cancellationToken)
    {
        var inv = CultureInfo.InvariantCulture;
        await using var file = new StreamWriter(path, append: false, Encoding.UTF8);
        await file.WriteLineAsync("kind,key,worker,start,end,outcome,failure,may_have_committed,error_type,attempts,total,misuse,error");
        foreach (var o in operations.OrderBy(o => o.Start))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await file.WriteLineAsync(string.Create(inv,
                $"{o.Kind},{o.Key},{o.Worker},{o.Start:0.000},{o.End:0.000},{o.Outcome},{o.Failure},{o.MayHaveCommitted},{Csv(o.ErrorType)},{o.Attempts},{o.Total},{Csv(o.Misuse)},{Csv(o.Error)}"));
        }
    }

    private static string Csv(string? text) => text is null ? "" : "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
