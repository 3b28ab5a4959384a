using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Npgsql;
using RoutingDataSource.Chaos.Cluster;

namespace RoutingDataSource.Chaos.Workload;

/// <summary>
/// The load the soak carries through every fault, on one <see cref="PgRoutingDataSource"/>: 4 workers doing bank
/// transfers in <c>ds.ExecuteAsync</c> units, 2 inserting unique ids one statement each (a plain INSERT; an
/// <c>INSERT ... RETURNING</c> read through a reader), 2 reading the total balance outside transactions. Every
/// operation's outcome is recorded as its caller saw it.
/// </summary>
internal sealed class BankWorkload
{
    public const int TransferWorkers = 4;
    public const int ReadWorkers = 2;

    // Each worker spends a little time between operations so that the client does not take both cores from the servers.
    private static readonly TimeSpan WriterPause = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan ReaderPause = TimeSpan.FromMilliseconds(20);
    private const int MaxRawSamples = 40;

    private readonly PgRoutingDataSource _ds;
    private readonly RunClock _clock;
    private readonly int _seed;
    private readonly ConcurrentQueue<Operation> _operations = new();
    private readonly ConcurrentQueue<string> _rawSamples = new();
    private readonly CancellationTokenSource _hardStop = new();
    private readonly List<Task> _workers = [];
    private volatile bool _stopping;

    public BankWorkload(PgRoutingDataSource ds, RunClock clock, int seed)
    {
        _ds = ds;
        _clock = clock;
        _seed = seed;
    }

    public IReadOnlyCollection<Operation> Operations => _operations;

    /// <summary>Full texts (stack included) of the first raw exceptions, for the report.</summary>
    public IReadOnlyCollection<string> RawSamples => _rawSamples;

    public void Start()
    {
        for (var w = 0; w < TransferWorkers; w++)
            _workers.Add(Run(w, TransferAsync));
        _workers.Add(Run(TransferWorkers, InsertAsync));
        _workers.Add(Run(TransferWorkers + 1, InsertReturningAsync));
        for (var w = 0; w < ReadWorkers; w++)
            _workers.Add(Run(TransferWorkers + 2 + w, ReadAsync));
    }

    /// <summary>Lets each worker finish its operation in flight (up to <paramref name="grace"/>), then cancels what still runs.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        _stopping = true;
        var all = Task.WhenAll(_workers);
        if (await Task.WhenAny(all, Task.Delay(grace)) != all)
        {
            await _hardStop.CancelAsync();
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(15)));
        }
    }

    private Task Run(int worker, Func<int, long, CancellationToken, Task<Operation>> operation) => Task.Run(async () =>
    {
        for (long seq = 1; !_stopping; seq++)
        {
            var key = (worker + 1) * 1_000_000_000L + seq;
            var start = _clock.Now;
            Operation done;
            try
            {
                done = await operation(worker, key, _hardStop.Token) with { Start = start, End = _clock.Now };
            }
            catch (Exception e)
            {
                done = Failed(worker, key, start, e);
            }

            _operations.Enqueue(done);
            await Task.Delay(done.Kind == OperationKind.Read ? ReaderPause : WriterPause, CancellationToken.None);
        }
    });

    private Operation Failed(int worker, long key, double start, Exception e)
    {
        var kind = KindOf(worker);
        var end = _clock.Now;
        if (e is OperationCanceledException && _hardStop.IsCancellationRequested)
            return new Operation(kind, key, worker, start, end, Outcome.Cancelled, ErrorType: e.GetType().Name, Error: Describe(e));
        var attempts = e.Data["attempts"] is int a ? a : 1;
        var full = e.ToString();
        var misuse = LogFile.MatchingPatterns(full).FirstOrDefault();
        if (e is RoutingException r)
        {
            return new Operation(kind, key, worker, start, end, Outcome.RoutingError, r.Failure, r.MayHaveCommitted,
                r.InnerException?.GetType().Name, Describe(e), attempts, Misuse: misuse);
        }

        if (_rawSamples.Count < MaxRawSamples)
            _rawSamples.Enqueue(string.Create(CultureInfo.InvariantCulture, $"[{end:0.000}] {kind} {key}: {full}"));
        return new Operation(kind, key, worker, start, end, Outcome.RawError, ErrorType: e.GetType().FullName, Error: Describe(e), Attempts: attempts, Misuse: misuse);
    }

    private static OperationKind KindOf(int worker) => worker switch
    {
        < TransferWorkers => OperationKind.Transfer,
        TransferWorkers => OperationKind.Insert,
        TransferWorkers + 1 => OperationKind.InsertReturning,
        _ => OperationKind.Read,
    };

    private async Task<Operation> TransferAsync(int worker, long key, CancellationToken cancellationToken)
    {
        var random = new Random(unchecked((int)key ^ _seed));
        var from = random.Next(1, Bank.Accounts + 1);
        var to = random.Next(1, Bank.Accounts);
        if (to >= from)
            to++;
        var amount = random.Next(1, 50);
        var attempts = 0;
        try
        {
            await _ds.ExecuteAsync(async (conn, ct) =>
            {
                Interlocked.Increment(ref attempts);
                // Rows locked in id order: transfers never deadlock each other.
                var (first, firstDelta, second, secondDelta) = from < to ? (from, -amount, to, amount) : (to, amount, from, -amount);
                await UpdateAsync(conn, first, firstDelta, ct);
                await UpdateAsync(conn, second, secondDelta, ct);
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = "INSERT INTO ledger (transfer_id, from_id, to_id, amount) VALUES ($1, $2, $3, $4)";
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = from });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = to });
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = amount });
                await cmd.ExecuteNonQueryAsync(ct);
            }, cancellationToken);
        }
        catch (Exception e)
        {
            e.Data["attempts"] = Volatile.Read(ref attempts);
            throw;
        }

        return new Operation(OperationKind.Transfer, key, worker, 0, 0, Outcome.Acknowledged, Attempts: attempts);
    }

    private static async Task UpdateAsync(RoutingConnection conn, int account, long delta, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE accounts SET balance = balance + $1 WHERE id = $2";
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = delta });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = account });
        var rows = await cmd.ExecuteNonQueryAsync(cancellationToken);
        if (rows != 1)
            throw new InvalidOperationException($"UPDATE of account {account} changed {rows} rows.");
    }

    private async Task<Operation> InsertAsync(int worker, long key, CancellationToken cancellationToken)
    {
        await using var conn = await _ds.OpenConnectionAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO items (id, worker, via_returning) VALUES ($1, $2, false)";
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = worker });
        var rows = await cmd.ExecuteNonQueryAsync(cancellationToken);
        if (rows != 1)
            throw new InvalidOperationException($"INSERT of item {key} reported {rows} rows.");
        return new Operation(OperationKind.Insert, key, worker, 0, 0, Outcome.Acknowledged);
    }

    private async Task<Operation> InsertReturningAsync(int worker, long key, CancellationToken cancellationToken)
    {
        await using (var conn = await _ds.OpenConnectionAsync(cancellationToken))
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "INSERT INTO items (id, worker, via_returning) VALUES ($1, $2, true) RETURNING id";
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = worker });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken: cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
                throw new InvalidOperationException($"INSERT ... RETURNING of item {key} returned no row.");
            var returned = reader.GetInt64(0);
            if (returned != key)
                throw new InvalidOperationException($"INSERT ... RETURNING of item {key} returned {returned}.");
        }

        return new Operation(OperationKind.InsertReturning, key, worker, 0, 0, Outcome.Acknowledged);
    }

    private async Task<Operation> ReadAsync(int worker, long key, CancellationToken cancellationToken)
    {
        await using var conn = await _ds.OpenConnectionAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT sum(balance) FROM accounts";
        var total = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        return new Operation(OperationKind.Read, key, worker, 0, 0, Outcome.Acknowledged, Total: total);
    }

    // "RoutingException(ConnectionLost): message <- NpgsqlException: message <- ..." on one line.
    private static string Describe(Exception e)
    {
        var text = new StringBuilder();
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (text.Length > 0)
                text.Append(" <- ");
            text.Append(x.GetType().Name);
            if (x is RoutingException r)
                text.Append('(').Append(r.Failure).Append(r.MayHaveCommitted ? ", may have committed" : "").Append(')');
            text.Append(": ").Append(x.Message.ReplaceLineEndings(" "));
        }

        return text.Length > 500 ? text.ToString(0, 500) + "..." : text.ToString();
    }
}
