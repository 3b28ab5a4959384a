using System.Globalization;

namespace RoutingDataSource.Benchmarks.Comparison.Infrastructure;

/// <summary>The few /proc reads the harness needs: process parents and CPU ticks (the machine's facts are in <c>MachineInfo</c>).</summary>
internal static class ProcFs
{
    /// <summary>One process's /proc/PID/stat fields of interest.</summary>
    internal readonly record struct ProcStat(int Pid, int ParentPid, int ProcessGroup, char State, long CpuTicks, long StartTime);

    /// <summary>
    /// Reads /proc/PID/stat. <see cref="ProcStat.CpuTicks"/> is utime + stime + cutime + cstime: the process's own CPU
    /// time and that of its children it has reaped, so a tree's total survives children that come and go.
    /// </summary>
    public static ProcStat? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
            return null;
        var f = text[(close + 2)..].Split(' ');
        // f[0] is field 3 (state), f[1] field 4 (ppid), f[2] field 5 (pgrp), f[11..14] fields 14-17 (utime, stime, cutime, cstime), f[19] field 22 (starttime).
        if (f.Length < 20)
            return null;
        var ticks = 0L;
        for (var i = 11; i <= 14; i++)
            ticks += long.Parse(f[i], CultureInfo.InvariantCulture);
        return new ProcStat(pid, int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture), f[0][0], ticks,
            long.Parse(f[19], CultureInfo.InvariantCulture));
    }

    /// <summary>Every live process (one /proc scan).</summary>
    public static List<ProcStat> AllProcesses()
    {
        var all = new List<ProcStat>();
        foreach (var path in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(path), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ReadStat(pid) is { } stat)
                all.Add(stat);
        }

        return all;
    }

    /// <summary><paramref name="root"/> and all its descendants, from one /proc scan.</summary>
    public static List<ProcStat> Tree(int root)
    {
        var all = AllProcesses();
        var byParent = all.ToLookup(p => p.ParentPid);
        var result = all.Where(p => p.Pid == root).ToList();
        for (var i = 0; i < result.Count; i++)
            result.AddRange(byParent[result[i].Pid]);
        return result;
    }

    /// <summary>Busy and total CPU ticks of the whole machine since boot (the "cpu" line of /proc/stat).</summary>
    public static (long Busy, long Total) MachineTicks()
    {
        var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal [guest guest_nice, already inside user/nice]
        var idle = v[3] + v[4];
        var total = v.Take(8).Sum();
        return (total - idle, total);
    }
}
