using System.Data.Common;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using RoutingDataSource.Connections;

namespace RoutingDataSource.EntityFrameworkCore;

/// <summary>
/// EF Core's reader of a routed command (<see cref="RoutingRelationalCommand"/>). EF reads the real Npgsql reader of
/// the routed physical connection; closing this reader reads a write's commit position (read-your-writes), closes the
/// routed reader, which gives its physical connection back (and confirms a write's commit), and hands the command back
/// to EF's connection. Npgsql reuses reader objects per physical connection, so once that connection is back in its
/// pool the Npgsql reader is never touched again. EF's connection was not opened for the command, so it is not closed.
/// EF's data reader events are logged as EF logs them; an interceptor may suppress the close, never the release.
/// </summary>
internal sealed class RoutedRelationalDataReader : RelationalDataReader
{
    private RoutingSession? _session;
    private ExternalCommand? _runner; // null: the reader came from an application's command interceptor
    private IRelationalCommandDiagnosticsLogger? _logger;
    private int _reads;
    private bool _closed;
    private bool _disposed;
    private DateTimeOffset _start;
    private long _started;

    public void Initialize(IRelationalConnection connection, DbCommand command, DbDataReader reader, Guid commandId,
        IRelationalCommandDiagnosticsLogger? logger, RoutingSession session, ExternalCommand? runner)
    {
        Initialize(connection, command, reader, commandId, logger);
        (_session, _runner, _logger, _reads, _closed, _disposed) = (session, runner, logger, 0, false, false);
        _start = logger is null ? default : DateTimeOffset.UtcNow;
        _started = Stopwatch.GetTimestamp();
    }

    public override bool Read()
    {
        _reads++;
        return DbDataReader.Read();
    }

    public override Task<bool> ReadAsync(CancellationToken cancellationToken = default)
    {
        _reads++;
        return DbDataReader.ReadAsync(cancellationToken);
    }

    public override void Close() => SyncPath.Wait(CloseAsync(async: false));

    public override ValueTask CloseAsync() => CloseAsync(async: true);

    public override void Dispose() => SyncPath.Wait(DisposeAsync(async: false));

    public override ValueTask DisposeAsync() => DisposeAsync(async: true);

    private async ValueTask CloseAsync(bool async)
    {
        if (_closed)
            return;
        _closed = true;
        var suppressed = false;
        try
        {
            if (_logger?.ShouldLogDataReaderClose(DateTimeOffset.UtcNow) == true)
            {
                var reader = DbDataReader;
                suppressed = (async
                    ? await _logger.DataReaderClosingAsync(RelationalConnection, DbCommand, reader, CommandId, reader.RecordsAffected, _reads, _start).ConfigureAwait(false)
                    : _logger.DataReaderClosing(RelationalConnection, DbCommand, reader, CommandId, reader.RecordsAffected, _reads, _start)).IsSuppressed;
            }
        }
        finally
        {
            if (!suppressed)
                await CloseReadersAsync(async).ConfigureAwait(false);
        }
    }

    private async ValueTask CloseReadersAsync(bool async)
    {
        var reader = DbDataReader;
        if (_runner is not { } runner)
        {
            if (async)
                await reader.CloseAsync().ConfigureAwait(false);
            else
                reader.Close();
            return;
        }
        if (runner.Reader.IsClosed)
            return;
        try
        {
            if (!ReferenceEquals(reader, runner.Reader.NpgsqlReader))
                reader.Close(); // EF's buffer over the routed reader, which it has read to its end
            await runner.ReadCommitPositionAsync(async).ConfigureAwait(false);
            if (async)
                await runner.Reader.CloseAsync().ConfigureAwait(false);
            else
                runner.Reader.Close();
        }
        finally
        {
            runner.Restore();
        }
    }

    private async ValueTask DisposeAsync(bool async)
    {
        if (_disposed)
            return;
        _disposed = true;
        var (session, runner, command, reader) = (_session!, _runner, DbCommand, DbDataReader);
        var suppressed = false;
        try
        {
            await CloseAsync(async).ConfigureAwait(false);
            if (_logger?.ShouldLogDataReaderDispose(DateTimeOffset.UtcNow) == true)
                suppressed = _logger.DataReaderDisposing(RelationalConnection, command, reader, CommandId, reader.RecordsAffected, _reads, _start, Stopwatch.GetElapsedTime(_started)).IsSuppressed;
        }
        finally
        {
            try
            {
                if (runner is not null)
                    session.ReaderDone(runner, close: true); // whatever happened above: a close suppressed or one that threw
                if (runner is not null || !suppressed)
                {
                    if (runner is null)
                    {
                        if (async)
                            await reader.DisposeAsync().ConfigureAwait(false);
                        else
                            reader.Dispose();
                    }
                    command.Parameters.Clear();
                    command.Dispose();
                }
            }
            finally
            {
                (_session, _runner, _logger) = (null, null, null);
            }
        }
    }
}
