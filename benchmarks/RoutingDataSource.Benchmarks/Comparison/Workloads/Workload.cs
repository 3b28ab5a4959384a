namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>A statement mix: the share of updates among point selects on pgbench_accounts.</summary>
internal sealed record Workload(string Key, string Label, int WritePercent)
{
    public static readonly Workload ReadOnly = new("read", "read-only (point selects)", 0);

    public static readonly Workload Mixed = new("mixed", "90% reads / 10% updates", 10);

    public static readonly Workload WriteOnly = new("write", "write-only (updates)", 100);

    public static readonly IReadOnlyList<Workload> All = [ReadOnly, Mixed, WriteOnly];

    /// <summary>Whether the next operation is a write (one draw per operation).</summary>
    public bool NextIsWrite(Random random) => WritePercent switch
    {
        0 => false,
        100 => true,
        _ => random.Next(100) < WritePercent,
    };
}
