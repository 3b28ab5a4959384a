namespace RoutingDataSource;

/// <summary>
/// Thrown by <see cref="PgRoutingDataSourceBuilder.Build"/> (and the DI registration) when the configuration is
/// invalid. <see cref="Problems"/> lists every problem, not only the first.
/// </summary>
public sealed class RoutingConfigurationException : Exception
{
    /// <summary>Creates the exception from its list of problems.</summary>
    public RoutingConfigurationException(IReadOnlyList<string> problems)
        : base("Invalid RoutingDataSource configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
    {
        Problems = problems;
    }

    /// <summary>Every problem found, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }
}
