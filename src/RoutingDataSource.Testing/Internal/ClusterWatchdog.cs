using System.Diagnostics;

namespace RoutingDataSource.Testing.Internal;

/// <summary>
/// A small shell child that cleans up after this process when it dies in a way that runs no
/// managed code (SIGKILL, OOM kill, a crash). It blocks reading a pipe whose only writer is
/// this process: the kernel closes the pipe however the process ends, and then the watchdog
/// stops the cluster's servers (postmasters, etcd members) and deletes its directory, unless it was told "release" first
/// because the cluster was disposed normally. It does not poll while it waits.
/// </summary>
/// <remarks>
/// It stays a child of this process (a detached one would be orphaned to an init that may
/// never reap it). A kill of the whole process tree kills it too, but then the servers, also
/// descendants, die with it, and the next cluster start deletes the directory.
/// </remarks>
internal sealed class ClusterWatchdog : IDisposable
{
    // Ignores terminal signals so that a Ctrl+C, which also reaches it, cannot stop it before it
    // has cleaned up. The same steps as Postmaster.KillImmediately.
    private const string Script = """
        trap '' HUP INT TERM QUIT PIPE
        exec >/dev/null 2>&1
        IFS= read -r word
        [ "$word" = release ] && exit 0
        pids=
        for pidfile in "$1"/*/postmaster.pid "$1"/*/etcd.pid; do
          [ -f "$pidfile" ] || continue
          dir=${pidfile%/*}
          pid=$(head -n 1 "$pidfile")
          case $pid in ''|*[!0-9]*) continue ;; esac
          grep -qF -- "$dir" "/proc/$pid/cmdline" 2>/dev/null || continue
          kill -CONT "$pid"; pkill -CONT -P "$pid"; kill -QUIT "$pid"
          pids="$pids $pid"
        done
        i=0
        while [ -n "$pids" ] && [ $i -lt 100 ]; do
          alive=
          for p in $pids; do
            [ -r "/proc/$p/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$p/stat" && alive=1
          done
          [ -z "$alive" ] && break
          sleep 0.1; i=$((i+1))
        done
        for p in $pids; do pkill -KILL -P "$p"; kill -KILL "$p"; done
        rm -rf "$1"
        """;

    private readonly Process _shell;
    private bool _done;

    private ClusterWatchdog(Process shell) => _shell = shell;

    /// <summary>Starts the watchdog for a cluster directory whose node data directories are its direct children.</summary>
    public static ClusterWatchdog Start(string clusterDirectory)
    {
        var startInfo = Command.CreateStartInfo("/bin/sh", ["-c", Script, "rds-pg-watchdog", clusterDirectory], asServer: false);
        var shell = Process.Start(startInfo) ?? throw new InvalidOperationException("Could not start the cluster watchdog shell.");
        return new ClusterWatchdog(shell);
    }

    /// <summary>The cluster was cleaned up normally: tell the watchdog to exit without doing anything.</summary>
    public void Release() => Finish("release\n");

    /// <summary>Closes the pipe as this process's death would: the watchdog cleans up now.</summary>
    internal void SimulateOwnerDeath() => Finish(null);

    /// <inheritdoc />
    public void Dispose() => Release();

    private void Finish(string? word)
    {
        lock (_shell)
        {
            if (_done)
            {
                return;
            }

            _done = true;
            try
            {
                if (word is not null)
                {
                    _shell.StandardInput.Write(word);
                    _shell.StandardInput.Flush();
                }
            }
            catch (IOException)
            {
                // The watchdog is gone already (someone killed it): nothing to tell.
            }
            finally
            {
                _shell.StandardInput.Close();
                _shell.Dispose();
            }
        }
    }
}
