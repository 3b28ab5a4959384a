using RoutingDataSource.Coordinator.Cli;

return await CommandLine.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
