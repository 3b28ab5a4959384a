using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// The few Linux process primitives the harness needs: signals (.NET can only SIGKILL) and
/// /proc reads (parent pid, start time, command line), so that no helper process is spawned
/// on paths that must work while the host is exiting.
/// </summary>
internal static partial class Posix
{
    // Linux numbering (x86-64 and arm64 agree); other systems differ, which is one reason the harness is Linux-only.
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigQuit = 3;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Sends a signal; false when the process is gone or not ours to signal.</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    /// <summary>True while the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        var stat = ReadStat(pid);
        return stat is not null && stat.Value.State != 'Z';
    }

    /// <summary>
    /// The process start time in clock ticks since boot: with the pid it names one process
    /// for good, even after the pid is reused.
    /// </summary>
    public static long? StartTime(int pid) => ReadStat(pid)?.StartTime;

    /// <summary>The process state letter from /proc (R, S, D, T for stopped, Z, ...).</summary>
    public static char? State(int pid) => ReadStat(pid)?.State;

    /// <summary>Every descendant of <paramref name="pid"/> (children first level first), from one /proc scan.</summary>
    public static List<int> Descendants(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in EnumerateProcessIds())
        {
            var stat = ReadStat(dir);
            if (stat is null)
            {
                continue;
            }

            if (!children.TryGetValue(stat.Value.ParentPid, out var list))
            {
                children[stat.Value.ParentPid] = list = [];
            }

            list.Add(dir);
        }

        var result = new List<int>();
        var queue = new Queue<int>();
        queue.Enqueue(pid);
        while (queue.Count > 0)
        {
            if (!children.TryGetValue(queue.Dequeue(), out var list))
            {
                continue;
            }

            foreach (var child in list)
            {
                result.Add(child);
                queue.Enqueue(child);
            }
        }

        return result;
    }

    /// <summary>The command line with its NUL separators turned into spaces, or null when unreadable.</summary>
    public static string? CommandLine(int pid)
    {
        try
        {
            var bytes = File.ReadAllBytes($"/proc/{pid}/cmdline");
            return Encoding.UTF8.GetString(bytes).Replace('\0', ' ');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>All pids currently listed in /proc.</summary>
    public static IEnumerable<int> EnumerateProcessIds()
    {
        foreach (var path in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(path), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    private static ProcStat? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
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
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22 (starttime).
        if (fields.Length < 20
            || !int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent)
            || !long.TryParse(fields[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start))
        {
            return null;
        }

        return new ProcStat(fields[0][0], parent, start);
    }

    private readonly record struct ProcStat(char State, int ParentPid, long StartTime);
}
