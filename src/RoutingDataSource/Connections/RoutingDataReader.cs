using System.Collections;
using System.Collections.ObjectModel;
using System.Data;
using System.Data.Common;
using Npgsql;
using RoutingDataSource.Classification;
using RoutingDataSource.Connections;
using RoutingDataSource.Resilience;
using RoutingDataSource.Routing;
using RoutingDataSource.Topology;

namespace RoutingDataSource;

/// <summary>
/// Reads the results of a routed command. A thin wrapper over <see cref="NpgsqlDataReader"/>: closing it returns the
/// physical connection to its backend's pool (unless the session is pinned).
/// </summary>
public sealed class RoutingDataReader : DbDataReader, IDbColumnSchemaGenerator
{
    private NpgsqlDataReader? _inner;
    private RoutingConnection? _connection;
    private Lease _lease;
    private SqlClassification? _classification;
    private StatementRoute _route;
    private CommandBehavior _behavior;
    private bool _closed = true;
    private IRoutedStatement? _statement; // to re-run a read a standby refused before any row reached the caller
    private bool _guarded; // a read guard stands before the statement until the reader is closed
    private bool _delivered; // a row or a later result reached the caller
    private long _carriedVersion; // session state ran in front of the read: held once the results end without a failure
    private bool _failed; // the server failed the results (its implicit transaction, carried state included, is undone)

    internal RoutingDataReader()
    {
    }

    internal void Init(NpgsqlDataReader inner, RoutingConnection connection, Lease lease, SqlClassification classification, StatementRoute route, CommandBehavior behavior,
        IRoutedStatement statement, bool guarded, long carriedVersion = 0)
    {
        _statement = statement;
        _guarded = guarded;
        _carriedVersion = carriedVersion;
        _failed = false;
        _delivered = false;
        _route = route;
        _inner = inner;
        _connection = connection;
        _lease = lease;
        _classification = classification;
        _behavior = behavior;
        _closed = false;
    }

    /// <summary>The Npgsql reader inside, while open (the EF Core package hands it to the provider, which needs it).</summary>
    internal NpgsqlDataReader? NpgsqlReader => _closed ? null : _inner;

    private NpgsqlDataReader Inner => !_closed && _inner is { } r ? r : throw new InvalidOperationException("The reader is closed.");

    /// <summary>The name of the backend that produced these results.</summary>
    public string BackendName => _lease.Backend?.Name ?? "";

    /// <inheritdoc />
    public override object this[int ordinal] => Inner[ordinal];

    /// <inheritdoc />
    public override object this[string name] => Inner[name];

    /// <inheritdoc />
    public override int Depth => Inner.Depth;

    /// <inheritdoc />
    public override int FieldCount => Inner.FieldCount;

    /// <inheritdoc />
    public override int VisibleFieldCount => Inner.VisibleFieldCount;

    /// <inheritdoc />
    public override bool HasRows => Inner.HasRows;

    /// <inheritdoc />
    public override bool IsClosed => _closed;

    /// <inheritdoc />
    public override int RecordsAffected => _inner?.RecordsAffected ?? -1;

    /// <inheritdoc />
    public override bool GetBoolean(int ordinal) => Inner.GetBoolean(ordinal);

    /// <inheritdoc />
    public override byte GetByte(int ordinal) => Inner.GetByte(ordinal);

    /// <inheritdoc />
    public override long GetBytes(int ordinal, long dataOffset, byte[]? buffer, int bufferOffset, int length) => Inner.GetBytes(ordinal, dataOffset, buffer, bufferOffset, length);

    /// <inheritdoc />
    public override char GetChar(int ordinal) => Inner.GetChar(ordinal);

    /// <inheritdoc />
    public override long GetChars(int ordinal, long dataOffset, char[]? buffer, int bufferOffset, int length) => Inner.GetChars(ordinal, dataOffset, buffer, bufferOffset, length);

    /// <inheritdoc />
    public override string GetDataTypeName(int ordinal) => Inner.GetDataTypeName(ordinal);

    /// <inheritdoc />
    public override DateTime GetDateTime(int ordinal) => Inner.GetDateTime(ordinal);

    /// <inheritdoc />
    public override decimal GetDecimal(int ordinal) => Inner.GetDecimal(ordinal);

    /// <inheritdoc />
    public override double GetDouble(int ordinal) => Inner.GetDouble(ordinal);

    /// <inheritdoc />
    public override Type GetFieldType(int ordinal) => Inner.GetFieldType(ordinal);

    /// <inheritdoc />
    public override float GetFloat(int ordinal) => Inner.GetFloat(ordinal);

    /// <inheritdoc />
    public override Guid GetGuid(int ordinal) => Inner.GetGuid(ordinal);

    /// <inheritdoc />
    public override short GetInt16(int ordinal) => Inner.GetInt16(ordinal);

    /// <inheritdoc />
    public override int GetInt32(int ordinal) => Inner.GetInt32(ordinal);

    /// <inheritdoc />
    public override long GetInt64(int ordinal) => Inner.GetInt64(ordinal);

    /// <inheritdoc />
    public override string GetName(int ordinal) => Inner.GetName(ordinal);

    /// <inheritdoc />
    public override int GetOrdinal(string name) => Inner.GetOrdinal(name);

    /// <inheritdoc />
    public override string GetString(int ordinal) => Inner.GetString(ordinal);

    /// <inheritdoc />
    public override object GetValue(int ordinal) => Inner.GetValue(ordinal);

    /// <inheritdoc />
    public override int GetValues(object[] values) => Inner.GetValues(values);

    /// <inheritdoc />
    public override bool IsDBNull(int ordinal) => Inner.IsDBNull(ordinal);

    /// <inheritdoc />
    public override Task<bool> IsDBNullAsync(int ordinal, CancellationToken cancellationToken) => Inner.IsDBNullAsync(ordinal, cancellationToken);

    /// <inheritdoc />
    public override T GetFieldValue<T>(int ordinal) => Inner.GetFieldValue<T>(ordinal);

    /// <inheritdoc />
    public override Task<T> GetFieldValueAsync<T>(int ordinal, CancellationToken cancellationToken) => Inner.GetFieldValueAsync<T>(ordinal, cancellationToken);

    /// <inheritdoc />
    public override Stream GetStream(int ordinal) => Inner.GetStream(ordinal);

    /// <inheritdoc />
    public override TextReader GetTextReader(int ordinal) => Inner.GetTextReader(ordinal);

    /// <inheritdoc />
    public override Type GetProviderSpecificFieldType(int ordinal) => Inner.GetProviderSpecificFieldType(ordinal);

    /// <inheritdoc />
    public override object GetProviderSpecificValue(int ordinal) => Inner.GetProviderSpecificValue(ordinal);

    /// <inheritdoc />
    public override int GetProviderSpecificValues(object[] values) => Inner.GetProviderSpecificValues(values);

    /// <inheritdoc />
    public override DataTable? GetSchemaTable() => Inner.GetSchemaTable();

    /// <inheritdoc />
    public override Task<DataTable?> GetSchemaTableAsync(CancellationToken cancellationToken = default) => Inner.GetSchemaTableAsync(cancellationToken);

    /// <inheritdoc />
    public ReadOnlyCollection<DbColumn> GetColumnSchema() => Inner.GetColumnSchema().Cast<DbColumn>().ToList().AsReadOnly();

    /// <inheritdoc />
    public override Task<ReadOnlyCollection<DbColumn>> GetColumnSchemaAsync(CancellationToken cancellationToken = default) => Task.FromResult(GetColumnSchema());

    // A write's results (INSERT ... RETURNING outside a transaction) end with its commit: reading them to the end can
    // fail the way the write itself can, and must say so the same way (RoutingException, MayHaveCommitted). Reads keep
    // the direct path.
    private bool IsWrite => _route.Kind != StatementKind.Read;

    /// <inheritdoc />
    public override bool Read()
    {
        if (IsWrite)
            return Translated(static r => r.Read(), Inner);
        try
        {
            var more = Inner.Read();
            _delivered |= more;
            return more;
        }
        catch (Exception e) when (NoteFailure() || IsStandbyRefusal(e))
        {
            return RefusedRead(e, async: false, default).GetAwaiter().GetResult();
        }
    }

    /// <inheritdoc />
    public override Task<bool> ReadAsync(CancellationToken cancellationToken)
    {
        if (IsWrite)
            return TranslatedAsync(static (r, ct) => r.ReadAsync(ct), Inner, cancellationToken);
        var read = Inner.ReadAsync(cancellationToken);
        if (read.IsCompletedSuccessfully)
        {
            _delivered |= read.Result;
            return read;
        }
        // Only a standby outside a transaction can refuse a read that has begun; elsewhere Npgsql's own task, unwrapped
        // (unless state was carried: its failure must be seen).
        return _carriedVersion == 0 && (_lease.Pinned || _connection is not { } conn || conn.IsOnPrimary(_lease)) ? read : ReadSlowAsync(read, cancellationToken);
    }

    // Only when Npgsql itself had to wait (or failed): a refusal tied to recovery may come with the first row or later.
    private async Task<bool> ReadSlowAsync(Task<bool> read, CancellationToken cancellationToken)
    {
        try
        {
            var more = await read.ConfigureAwait(false);
            _delivered |= more;
            return more;
        }
        catch (Exception e) when (NoteFailure() || (!cancellationToken.IsCancellationRequested && IsStandbyRefusal(e)))
        {
            return await RefusedRead(e, async: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override bool NextResult()
    {
        if (IsWrite)
            return Translated(static r => r.NextResult(), Inner);
        _delivered = true;
        try
        {
            return Inner.NextResult();
        }
        catch (Exception) when (NoteFailure())
        {
            throw; // never reached: the filter only notes the failure
        }
    }

    /// <inheritdoc />
    public override Task<bool> NextResultAsync(CancellationToken cancellationToken)
    {
        if (IsWrite)
            return TranslatedAsync(static (r, ct) => r.NextResultAsync(ct), Inner, cancellationToken);
        _delivered = true;
        var next = Inner.NextResultAsync(cancellationToken);
        return _carriedVersion == 0 || next.IsCompletedSuccessfully ? next : NextResultSlowAsync(next);
    }

    private async Task<bool> NextResultSlowAsync(Task<bool> next)
    {
        try
        {
            return await next.ConfigureAwait(false);
        }
        catch (Exception) when (NoteFailure())
        {
            throw; // never reached: the filter only notes the failure
        }
    }

    // For exception filters: notes that the server failed these results and lets the exception go on its way.
    private bool NoteFailure()
    {
        _failed = true;
        return false;
    }

    // A standby (not the pinned server of a transaction) refused the read for a reason tied to recovery while its rows
    // were being read: a replay conflict cancels a running read, and a refusal can come with the first row.
    private bool IsStandbyRefusal(Exception e)
        => !_lease.Pinned && _connection is { } conn && !conn.IsOnPrimary(_lease)
            && ErrorClassifier.Classify(e) is FailureKind.RecoveryRefusal or FailureKind.ReplayConflict or FailureKind.ReadOnly;

    /// <summary>
    /// Before any row reached the caller the read is re-run on the primary at once and this reader goes on with its
    /// results (nothing was delivered, so nothing is seen twice). After rows were delivered a re-run would hand them
    /// out again: a <see cref="RoutingException"/> says the results are incomplete.
    /// </summary>
    private async ValueTask<bool> RefusedRead(Exception e, bool async, CancellationToken cancellationToken)
    {
        var conn = _connection!;
        var lease = _lease;
        var backend = lease.Backend;
        backend.CountReroute();
        conn.DataSourceInternal.Metrics.Reroute(backend);
        if (_delivered)
        {
            throw new RoutingException(RoutingFailure.RefusedByStandby,
                $"The standby {backend.Name} cancelled this read after some of its rows had been read ({Describe(e)}): the results are incomplete. Re-run the statement (it will run on the primary or another standby).",
                e, backend.Name, clusterState: conn.DataSourceInternal.Monitor.Current.ProblemMessage);
        }
        var statement = _statement!;
        var classification = _classification!;
        var route = _route with { StandbyAllowed = false, Reason = "re-run on the primary after a standby refused it while it was read" };
        var behavior = _behavior;
        _closed = true;
        try
        {
            if (async)
                await _inner!.DisposeAsync().ConfigureAwait(false);
            else
                _inner!.Dispose();
        }
#pragma warning disable CA1031 // the refused reader's own close failure adds nothing: the server already said why
        catch (Exception)
        {
        }
#pragma warning restore CA1031
        _inner = null;
        _lease = default;
        if (_guarded)
            statement.Unguard();
        conn.Release(lease);
        // Re-initialises this very reader (it is the statement's reader) on the primary's results.
        await RoutedExecution.ExecuteAsync<RoutingDataReader>(statement, conn, classification, route, 1, ExecuteMode.Reader, behavior, async, cancellationToken)
            .ConfigureAwait(false);
        var first = async ? await Inner.ReadAsync(cancellationToken).ConfigureAwait(false) : Inner.Read();
        _delivered |= first;
        return first;
    }

    private static string Describe(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is PostgresException pe)
                return $"{pe.SqlState}: {pe.MessageText}";
        }
        return e.Message;
    }

    private bool Translated(Func<NpgsqlDataReader, bool> step, NpgsqlDataReader inner)
    {
        try
        {
            return step(inner);
        }
        catch (Exception e) when (TranslateAtEnd(e) is { } translated)
        {
            throw translated;
        }
    }

    private async Task<bool> TranslatedAsync(Func<NpgsqlDataReader, CancellationToken, Task<bool>> step, NpgsqlDataReader inner, CancellationToken cancellationToken)
    {
        try
        {
            return await step(inner, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && TranslateAtEnd(e) is { } translated)
        {
            throw translated;
        }
    }

    // Null: rethrow the original. The physical connection then stays with the reader until it is closed.
    private Exception? TranslateAtEnd(Exception e)
    {
        if (_connection is not { } conn)
            return null;
        var translated = FailureTranslator.AtWriteResultEnd(e, conn, _lease, _route);
        return ReferenceEquals(translated, e) ? null : translated;
    }

    /// <inheritdoc />
    public override IEnumerator GetEnumerator() => new DbEnumerator(this, closeReader: false);

    /// <summary>
    /// Closes the results and gives the physical connection back (unless the session is pinned). For a write outside a
    /// transaction this is where its commit is confirmed: a failure here, or a commit whose synchronous wait was cut
    /// short, raises a <see cref="RoutingException"/> with <see cref="RoutingException.MayHaveCommitted"/>.
    /// </summary>
    public override void Close()
    {
        if (_closed)
            return;
        _closed = true;
        Exception? failure = null;
        try
        {
            // Dispose, not Close: Npgsql stops the command's activity (its span) only when the reader is disposed.
            _inner!.Dispose();
        }
        catch (Exception e)
        {
            failure = e;
        }
        SyncPath.Wait(Finish(failure, abandoned: null, async: false));
    }

    /// <inheritdoc cref="Close" />
    public override async Task CloseAsync()
    {
        if (_closed)
            return;
        _closed = true;
        Exception? failure = null;
        Task? abandoned = null;
        try
        {
            var inFlight = _lease.Backend.InFlight;
            var epoch = inFlight.Epoch;
            var close = _inner!.DisposeAsync().AsTask(); // see Close
            // The end of a write's results waits for its commit: on a hung server it is abandoned like a statement.
            if (IsWrite && !await inFlight.FinishesAsync(close, epoch).ConfigureAwait(false))
                abandoned = close;
            if (abandoned is null)
                await close.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
        }
        await Finish(failure, abandoned, async: true).ConfigureAwait(false);
    }

    private async Task Finish(Exception? failure, Task? abandoned, bool async)
    {
        var conn = _connection!;
        var lease = _lease;
        _inner = null;
        _lease = default;
        _connection = null;
        if (_guarded)
        {
            _guarded = false;
            _statement?.Unguard();
        }
        var commitLsn = _statement?.ReaderCommitLsn ?? 0;
        _statement = null;
        Exception? toThrow = null;
        if (abandoned is not null)
        {
            conn.Abandon(lease, abandoned);
            toThrow = FailureTranslator.AtWriteResultEnd(
                new BackendOutOfServiceException("The backend was taken out of service while the write's results were read."), conn, lease, _route);
        }
        else if (failure is not null)
        {
            toThrow = IsWrite ? FailureTranslator.AtWriteResultEnd(failure, conn, lease, _route) : ReadCloseFailure(failure, conn, lease);
            conn.Release(lease);
        }
        else
        {
            if (_carriedVersion != 0 && !_failed)
                conn.CarriedStateRan(lease.Connection, _carriedVersion);
            var cutShort = IsWrite && lease.Backend.CommitWarnings.TakeCutShort(lease.Connection); // before the release, as in RoutedExecution
            conn.AfterStatement(_classification!, _route, commitLsn);
            conn.Release(lease);
            if (cutShort)
                toThrow = FailureTranslator.CommitNotAcknowledged(conn, lease.Backend.Name);
        }
        if ((_behavior & CommandBehavior.CloseConnection) != 0)
        {
            if (async)
                await conn.CloseAsync().ConfigureAwait(false);
            else
                conn.Close();
        }
        if (toThrow is not null)
            throw toThrow;
    }

    // A read's results were handed over already: a server lost while closing them costs the caller nothing (it is
    // told through the monitor), anything else is reported as it is.
    private Exception? ReadCloseFailure(Exception failure, RoutingConnection conn, Lease lease)
    {
        var translated = FailureTranslator.AfterSend(failure, conn, lease, _route);
        return translated is RetryableFailure ? null : translated;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            Close();
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => new(CloseAsync());
}
