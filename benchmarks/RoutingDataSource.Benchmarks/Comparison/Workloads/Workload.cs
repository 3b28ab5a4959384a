namespace RoutingDataSource.Benchmarks.Comparison.Workloads;

/// <summary>
/// A statement mix: the share of updates among point selects on pgbench_accounts. With <see cref="SessionStatements"/>,
/// each operation is a tenant's session: one connection that runs <c>SET app.tenant_id = ...</c>, then that many
/// statements drawn from the mix (the session state a multi-tenant application with row-level security sets).
/// </summary>
internal sealed record Workload(string Key, string Label, int WritePercent, int SessionStatements = 0)
{
    public static readonly Workload ReadOnly = new("read", "read-only (point selects)", 0);

    public static readonly Workload Mixed = new("mixed", "90% reads / 10% updates", 10);

    public static readonly Workload WriteOnly = new("write", "write-only (updates)", 100);

    public static readonly Workload Tenant = new("tenant", "tenant sessions (SET app.tenant_id, then 4 statements: 90% reads / 10% updates)", 10, SessionStatements: 4);

    public static readonly IReadOnlyList<Workload> All = [ReadOnly, Mixed, WriteOnly, Tenant];

    /// <summary>The workload of a key (<c>read</c>, <c>mixed</c>, <c>write</c>, <c>tenant</c>).</summary>
    public static Workload Parse(string key) => All.FirstOrDefault(w => w.Key == key.Trim())
        ?? throw new ArgumentException($"Unknown workload '{key}': one of {string.Join(", ", All.Select(w => w.Key))}.");

    /// <summary>Whether the next operation is a write (one draw per operation).</summary>
    public bool NextIsWrite(Random random) => WritePercent switch
    {
        0 => false,
        100 => true,
        _ => random.Next(100) < WritePercent,
    };
}
