using BenchmarkDotNet.Running;
using RoutingDataSource.Benchmarks.Comparison;

// "compare ..." runs the side-by-side harness (./build.sh bench); anything else goes to BenchmarkDotNet's switcher.
if (args.Length > 0 && args[0] == "compare")
    return await CompareCommand.RunAsync(args[1..]);
// "ef ..." runs the EF Core cell (./build.sh bench ef): a routed context against plain UseNpgsql.
if (args.Length > 0 && args[0] == "ef")
    return await RoutingDataSource.Benchmarks.Comparison.Ef.EfCommand.RunAsync(args[1..]);
// "ryw ..." the read-right-after-a-write cell (./build.sh bench ryw).
if (args.Length > 0 && args[0] == "ryw")
    return await RoutingDataSource.Benchmarks.Comparison.ReadAfterWrite.ReadAfterWriteCommand.RunAsync(args[1..]);
// "switchover ..." planned switchovers under write load (./build.sh bench switchover).
if (args.Length > 0 && args[0] == "switchover")
    return await RoutingDataSource.Benchmarks.Comparison.Switchover.SwitchoverCommand.RunAsync(args[1..]);

// "cpu ..." CPU time and allocation per statement against plain Npgsql, robust to load (./build.sh bench cpu).
if (args.Length > 0 && args[0] == "cpu")
    return await RoutingDataSource.Benchmarks.Comparison.Cpu.CpuCommand.RunAsync(args[1..]);
// "cpu-profile PERF.DATA PID STATEMENTS" where a perf profile of a "cpu --only" run spent its samples, per statement.
if (args.Length > 0 && args[0] == "cpu-profile")
    return await RoutingDataSource.Benchmarks.Comparison.Cpu.PerfProfileReport.RunAsync(args[1..]);

BenchmarkSwitcher.FromAssembly(typeof(RoutingDataSource.Benchmarks.RoutingDecisionBenchmarks).Assembly).Run(args);
return 0;
