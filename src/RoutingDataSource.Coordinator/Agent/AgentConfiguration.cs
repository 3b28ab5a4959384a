using Microsoft.Extensions.Configuration;
using RoutingDataSource.Coordinator.Configuration;

namespace RoutingDataSource.Coordinator.Agent;

/// <summary>Reads and checks the <c>Local</c> section, reporting every problem at once with its key; and the agent's token.</summary>
internal static class AgentConfiguration
{
    public const string TokenVariable = "ROUTING_AGENT_TOKEN";

    private static readonly string[] Keys =
    [
        "Name", "DataDirectory", "BinDirectory", "ServerLog", "Listen", "TokenFile", "ReplicationConnInfo", "RewindConnInfo", "TermFile",
        "OrderTimeout", "StreamTimeout",
    ];

    public static AgentOptions Load(IConfiguration configuration, out List<string> problems)
    {
        problems = [];
        var options = new AgentOptions();
        var section = configuration.GetSection(AgentOptions.SectionName);
        if (!section.Exists())
        {
            problems.Add("no \"Local\" section: the agent's settings go under { \"Local\": { \"Name\": ..., \"DataDirectory\": ..., \"BinDirectory\": ... } }.");
            return options;
        }
        CoordinatorConfiguration.UnknownKeys(section, Keys, problems);
        options.Name = section["Name"] ?? "";
        options.DataDirectory = section["DataDirectory"] ?? "";
        options.BinDirectory = section["BinDirectory"] ?? "";
        options.ServerLog = section["ServerLog"];
        options.Listen = section["Listen"] ?? options.Listen;
        options.TokenFile = section["TokenFile"];
        options.ReplicationConnInfo = section["ReplicationConnInfo"];
        options.RewindConnInfo = section["RewindConnInfo"];
        options.TermFile = section["TermFile"];
        CoordinatorConfiguration.ReadDuration(section, "OrderTimeout", v => options.OrderTimeout = v, problems);
        CoordinatorConfiguration.ReadDuration(section, "StreamTimeout", v => options.StreamTimeout = v, problems);
        problems.AddRange(Problems(options));
        return options;
    }

    public static IEnumerable<string> Problems(AgentOptions o)
    {
        if (o.Name.Length == 0 || !o.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            yield return "Local:Name is required: the member's name in the coordinator's Backends (letters, digits, '_', '-', '.').";
        if (!Path.IsPathFullyQualified(o.DataDirectory))
            yield return $"Local:DataDirectory must be an absolute path; it is '{o.DataDirectory}'.";
        if (!File.Exists(Path.Combine(o.BinDirectory, "pg_ctl")))
            yield return $"Local:BinDirectory '{o.BinDirectory}' holds no pg_ctl (e.g. /usr/lib/postgresql/15/bin).";
        if (!ListenAddress.TryParse(o.Listen, out var listen, out var error))
            yield return "Local:Listen: " + error;
        else if (!listen.IsLoopback)
            yield return $"Local:Listen {o.Listen} is not a loopback address: the agent serves its own host only (put a TLS proxy in front to reach it from elsewhere).";
        foreach (var p in ReplicationConnInfo.Problems(o.ReplicationConnInfo))
            yield return "Local:" + p;
        if (o.OrderTimeout <= TimeSpan.Zero || o.StreamTimeout <= TimeSpan.Zero)
            yield return "Local:OrderTimeout and Local:StreamTimeout must be positive.";
    }

    /// <summary>
    /// The token from <c>ROUTING_AGENT_TOKEN</c>, else from <see cref="AgentOptions.TokenFile"/>, which must be
    /// readable by its owner only; null and the problem otherwise.
    /// </summary>
    public static string? Token(AgentOptions options, out string? problem)
    {
        problem = null;
        if (Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } fromEnvironment)
            return fromEnvironment;
        if (options.TokenFile is not { } file)
        {
            problem = $"no token: set {TokenVariable} or Local:TokenFile (the coordinator's Coordinator:AgentToken must be the same)";
            return null;
        }
        if (!File.Exists(file))
        {
            problem = $"Local:TokenFile {file} does not exist";
            return null;
        }
        if (OperatingSystem.IsWindows())
        {
            problem = "Local:TokenFile is checked for its mode, which Windows has not: use ROUTING_AGENT_TOKEN";
            return null;
        }
        var mode = File.GetUnixFileMode(file);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            problem = $"Local:TokenFile {file} is readable by others (mode {Convert.ToString((int)mode, 8)}): chmod 0600 it";
            return null;
        }
        var token = File.ReadAllText(file).Trim();
        if (token.Length < 16)
        {
            problem = $"Local:TokenFile {file} holds fewer than 16 characters";
            return null;
        }
        return token;
    }
}
