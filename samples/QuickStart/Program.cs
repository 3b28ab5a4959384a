using System.Diagnostics;
using RoutingDataSource.Testing;

// Starts a local primary with two streaming standbys, shows them, and removes them again.
var clock = Stopwatch.StartNew();
await using (var cluster = await LocalPgCluster.StartAsync())
{
    Console.WriteLine($"Started a local cluster in {cluster.StartupDuration.TotalMilliseconds:0} ms ({cluster.ServerVersion})");
    Console.WriteLine($"  directory: {cluster.Directory}");
    Console.WriteLine();
    Console.WriteLine($"  {"node",-6} {"port",-6} role");
    foreach (var node in cluster.Nodes)
    {
        var role = await node.IsInRecoveryAsync() ? "standby" : "primary";
        Console.WriteLine($"  {node.Name,-6} {node.Port,-6} {role}");
    }

    Console.WriteLine();
    Console.WriteLine($"  multi-host connection string: {cluster.MultiHostConnectionString}");
    clock.Restart();
}

Console.WriteLine($"Stopped and removed it in {clock.Elapsed.TotalMilliseconds:0} ms.");
return 0;
