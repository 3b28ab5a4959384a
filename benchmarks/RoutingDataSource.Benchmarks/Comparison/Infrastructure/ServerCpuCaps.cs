using System.Globalization;
using RoutingDataSource.Testing;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>
/// Limits each PostgreSQL server of a cluster to a share of a core with a CPU cgroup of its own (cgroup v1's
/// <c>cpu.cfs_quota_us</c>, or v2's <c>cpu.max</c>): on one small machine, each server then has the capacity of a small
/// machine of its own, as standbys have in a real deployment. Without it, standbys on the client's machine add no
/// capacity, so offloading reads can only cost. The client and Pgpool-II stay uncapped.
/// </summary>
/// <remarks>
/// A server's postmaster and every process it has now move into the group; the backends it forks later are born
/// there. Disposing moves whatever is left back to the root group and removes the groups.
/// </remarks>
internal sealed class ServerCpuCaps : IDisposable
{
    // µs. Shorter than the kernel's default 100 ms: a server that spends its quota early in a period waits out the rest
    // of it, and at 100 ms those waits showed as 20-60 ms latency spikes a small machine of its own would not have.
    internal const int Period = 10_000;
    private readonly List<string> _groups = [];
    private readonly string _root;

    private ServerCpuCaps(string root)
    {
        _root = root;
    }

    /// <summary>Caps every node of <paramref name="cluster"/> at <paramref name="cores"/> (for example 0.4 of a core).</summary>
    public static ServerCpuCaps Apply(LocalPgCluster cluster, double cores)
    {
        if (cores is <= 0 or > 64)
            throw new ArgumentOutOfRangeException(nameof(cores), cores, "A server's CPU cap is a positive number of cores.");
        var caps = new ServerCpuCaps(FindRoot());
        try
        {
            foreach (var node in cluster.Nodes)
                caps.Cap(node, cores);
        }
        catch (UnauthorizedAccessException e)
        {
            caps.Dispose();
            throw new InvalidOperationException($"--server-cpu needs root to make CPU cgroups under {caps._root}.", e);
        }
        catch
        {
            caps.Dispose();
            throw;
        }

        return caps;
    }

    private static bool IsV1 => File.Exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");

    // Where the groups go: the v1 cpu hierarchy, or the v2 root when its cpu controller is enabled for children.
    private static string FindRoot()
    {
        if (IsV1)
            return "/sys/fs/cgroup/cpu";
        const string v2 = "/sys/fs/cgroup";
        if (File.Exists(Path.Combine(v2, "cgroup.subtree_control"))
            && File.ReadAllText(Path.Combine(v2, "cgroup.subtree_control")).Split(' ', '\n').Contains("cpu"))
            return v2;
        throw new InvalidOperationException(
            "--server-cpu needs a CPU cgroup controller this process can write (cgroup v1 /sys/fs/cgroup/cpu, or v2 with \"cpu\" in /sys/fs/cgroup/cgroup.subtree_control) and root.");
    }

    private void Cap(LocalPgNode node, double cores)
    {
        var postmaster = node.ProcessId ?? throw new InvalidOperationException($"{node.Name} is not running.");
        var group = Path.Combine(_root, string.Create(CultureInfo.InvariantCulture, $"rds-bench-{Environment.ProcessId}-{node.Name}"));
        Directory.CreateDirectory(group);
        _groups.Add(group);
        var quota = (long)Math.Round(cores * Period);
        if (IsV1)
        {
            File.WriteAllText(Path.Combine(group, "cpu.cfs_period_us"), Period.ToString(CultureInfo.InvariantCulture));
            File.WriteAllText(Path.Combine(group, "cpu.cfs_quota_us"), quota.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            File.WriteAllText(Path.Combine(group, "cpu.max"), string.Create(CultureInfo.InvariantCulture, $"{quota} {Period}"));
        }

        foreach (var process in ProcFs.Tree(postmaster))
            Move(process.Pid, group);
    }

    private static void Move(int pid, string group)
    {
        try
        {
            File.WriteAllText(Path.Combine(group, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            // The process ended between the scan and the move (ESRCH).
        }
    }

    public void Dispose()
    {
        foreach (var group in _groups)
        {
            // A backend forked while the group is emptied lands in it: empty it until it can be removed.
            for (var attempt = 0; attempt < 20; attempt++)
            {
                try
                {
                    foreach (var line in File.ReadAllLines(Path.Combine(group, "cgroup.procs")))
                    {
                        if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                            Move(pid, _root);
                    }

                    Directory.Delete(group);
                    break;
                }
                catch (DirectoryNotFoundException)
                {
                    break;
                }
                catch (IOException)
                {
                    Thread.Sleep(50);
                }
            }
        }

        _groups.Clear();
    }
}
