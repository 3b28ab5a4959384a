using System.CommandLine;
using RoutingDataSource.Coordinator.Agent;

namespace RoutingDataSource.Coordinator.Cli;

/// <summary><c>routing-coordinator agent --config agent.json</c>: the node agent beside one PostgreSQL server, as its OS user.</summary>
internal static class AgentCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "Path of agent.json (its \"Local\" section)", Required = true };
        var agent = new Command("agent", "Run the node agent of one PostgreSQL server (as the server's OS user): it obeys the leading coordinator's orders") { config };
        agent.SetAction((r, ct) => RunAsync(r.GetValue(config)!, output, error, ct));
        return agent;
    }

    private static async Task<int> RunAsync(FileInfo file, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (Environment.IsPrivilegedProcess)
        {
            error.WriteLine("routing-coordinator agent: refusing to run as root; run it as the PostgreSQL server's OS user (e.g. postgres).");
            return 2;
        }
        if (Load(file, error) is not { } options)
            return 2;
        if (AgentConfiguration.Token(options, out var problem) is not { } token)
        {
            error.WriteLine($"routing-coordinator agent: {problem}.");
            return 2;
        }
        using var loggerFactory = ConsoleSetup.Logging();
        AgentHost host;
        try
        {
            host = await AgentHost.StartAsync(options, token, loggerFactory, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            error.WriteLine($"routing-coordinator agent: cannot listen on {options.Listen}: {e.Message}");
            return 1;
        }
        await using (host.ConfigureAwait(false))
        {
            output.WriteLine($"routing-coordinator agent: {options.Name} on {host.Address}");
            try
            {
                await host.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        return 0;
    }

    private static AgentOptions? Load(FileInfo file, TextWriter error)
    {
        if (ConsoleSetup.ReadJson(file, null, "routing-coordinator agent", error) is not { } configuration)
            return null;
        var options = AgentConfiguration.Load(configuration, out var problems);
        return ConsoleSetup.Report(file, problems, "routing-coordinator agent", error) ? options : null;
    }
}
