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

    internal RoutingDataReader()
    {
    }

    internal void Init(NpgsqlDataReader inner, RoutingConnection connection, Lease lease, SqlClassification classification, StatementRoute route, CommandBehavior behavior)
    {
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
    public override bool Read() => IsWrite ? Translated(static r => r.Read(), Inner) : Inner.Read();

    /// <inheritdoc />
    public override Task<bool> ReadAsync(CancellationToken cancellationToken)
        => IsWrite ? TranslatedAsync(static (r, ct) => r.ReadAsync(ct), Inner, cancellationToken) : Inner.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public override bool NextResult() => IsWrite ? Translated(static r => r.NextResult(), Inner) : Inner.NextResult();

    /// <inheritdoc />
    public override Task<bool> NextResultAsync(CancellationToken cancellationToken)
        => IsWrite ? TranslatedAsync(static (r, ct) => r.NextResultAsync(ct), Inner, cancellationToken) : Inner.NextResultAsync(cancellationToken);

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
            var cutShort = IsWrite && lease.Backend.CommitWarnings.TakeCutShort(lease.Connection); // before the release, as in RoutedExecution
            conn.AfterStatement(_classification!, _route);
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
