using System.Data;
using Npgsql;

namespace RoutingDataSource.Connections;

/// <summary>
/// What read-your-writes does to one Npgsql command for one execution, for <see cref="RoutingCommand"/> and
/// <see cref="ExternalCommand"/> alike: a read guard put before it (<see cref="ReadGuard"/>), or the command run as a
/// batch that also reads its commit position (<see cref="CommitPosition"/>), and each undone afterwards, the caller's
/// parameter objects back in the command. The batches are kept for the command's next executions.
/// </summary>
internal sealed class CommandRewrite
{
    private string? _unguardedText;
    private NpgsqlBatch? _positioned;
    private NpgsqlBatch? _guarded; // [guard, the statement]: for $1-style parameters, which allow one statement per command
    private NpgsqlBatchCommand? _statePrefix; // session state in front of a positioned write

    /// <summary>The guard runs as a batch of two: execute <see cref="Guarded"/>, not the command.</summary>
    public bool RunGuarded { get; private set; }

    /// <summary>The parameters are in the positioned batch's first command.</summary>
    public bool RunPositioned { get; private set; }

    /// <summary>The command's own text while a guard stands before it in <see cref="NpgsqlCommand.CommandText"/>, else null.</summary>
    public string? UnguardedText => _unguardedText;

    public NpgsqlBatch Guarded => _guarded!;

    /// <summary>Whether <paramref name="inner"/> can take a guard or run positioned: Npgsql runs it as it is otherwise.</summary>
    public static bool CanRewrite(NpgsqlCommand inner, bool prepareRequested)
        => inner.CommandType == CommandType.Text && !prepareRequested && !inner.AllResultTypesAreUnknown && inner.UnknownResultTypeList is null;

    /// <summary>Whether <see cref="Positioned"/> can run <paramref name="inner"/> positioned.</summary>
    public static bool CanPosition(NpgsqlCommand inner, int statementCount, bool prepareRequested)
        => statementCount == 1 && CanRewrite(inner, prepareRequested); // one statement per batch command; a prepared command runs as prepared

    public void Guard(NpgsqlCommand inner, string guardSql)
    {
        if (HasPositionalParameters(inner.Parameters))
        {
            // The guard and the statement as a batch of two, without a barrier between them.
            var batch = _guarded ??= new NpgsqlBatch { BatchCommands = { new NpgsqlBatchCommand { AppendErrorBarrier = false }, new NpgsqlBatchCommand() } };
            batch.BatchCommands[0].CommandText = guardSql;
            var read = new NpgsqlBatchCommand(inner.CommandText); // a new one each time, see Positioned
            batch.BatchCommands[1] = read;
            MoveParameters(inner.Parameters, read.Parameters);
            batch.Connection = inner.Connection;
            batch.Timeout = inner.CommandTimeout;
            RunGuarded = true;
            return;
        }
        _unguardedText = inner.CommandText;
        inner.CommandText = guardSql + ";" + _unguardedText;
    }

    /// <summary>Takes the guard away again; with <paramref name="inner"/> null (the command is gone) only forgets it.</summary>
    public void Unguard(NpgsqlCommand? inner)
    {
        if (inner is null)
        {
            RunGuarded = false;
            _unguardedText = null;
            return;
        }
        if (RunGuarded)
        {
            RunGuarded = false;
            var batch = _guarded!;
            MoveParameters(batch.BatchCommands[1].Parameters, inner.Parameters);
            batch.Connection = null;
            return;
        }
        if (_unguardedText is not { } text)
            return;
        _unguardedText = null;
        inner.CommandText = text;
    }

    /// <summary>
    /// The command as a batch that also reads its commit position, bound to <paramref name="connection"/>; null when it
    /// cannot run that way. With <paramref name="state"/> (one statement, see <see cref="ReadGuard.StateBeforeWrite"/>), the
    /// session state the connection lacks runs first, in the write's implicit transaction: a failure of either undoes
    /// both.
    /// </summary>
    public NpgsqlBatch? Positioned(NpgsqlCommand inner, NpgsqlConnection connection, int statementCount, bool prepareRequested, string? state = null)
    {
        if (!CanPosition(inner, statementCount, prepareRequested))
            return null;
        var batch = _positioned ??= new NpgsqlBatch { BatchCommands = { new NpgsqlBatchCommand(), CommitPosition.Command() } };
        var commands = batch.BatchCommands;
        if (state is not null)
        {
            var prefix = _statePrefix ??= new NpgsqlBatchCommand { AppendErrorBarrier = false };
            prefix.CommandText = state;
            commands.Insert(0, prefix);
        }
        // A batch command of its own each time: Npgsql keeps the rewritten parameter list of a batch command between
        // executions, which no longer matches once the parameters have moved back to the command and in again.
        var write = new NpgsqlBatchCommand(inner.CommandText) { AppendErrorBarrier = true };
        commands[WriteIndex] = write;
        MoveParameters(inner.Parameters, write.Parameters);
        batch.Connection = connection;
        batch.Timeout = inner.CommandTimeout;
        RunPositioned = true;
        return batch;
    }

    // The write's place in the positioned batch: after the session state, when that runs in front of it.
    private int WriteIndex => _statePrefix is { } prefix && ReferenceEquals(_positioned!.BatchCommands[0], prefix) ? 1 : 0;

    public void Unposition(NpgsqlCommand inner)
    {
        if (!RunPositioned)
            return;
        RunPositioned = false;
        var batch = _positioned!;
        var index = WriteIndex;
        MoveParameters(batch.BatchCommands[index].Parameters, inner.Parameters);
        if (index == 1)
            batch.BatchCommands.RemoveAt(0);
        batch.Connection = null;
    }

    /// <summary>
    /// The statement was abandoned on a hung server: where its parameters are now (the batch it ran as, which goes with
    /// the abandoned statement; null: still in the command). Everything is forgotten.
    /// </summary>
    public NpgsqlParameterCollection? Abandon()
    {
        var holder = RunPositioned ? _positioned!.BatchCommands[WriteIndex].Parameters
            : RunGuarded ? _guarded!.BatchCommands[1].Parameters
            : null;
        _positioned = null;
        _statePrefix = null;
        _guarded = null;
        RunGuarded = false;
        RunPositioned = false;
        return holder; // a guard in the text stays known: the replacement copied it, Unguard takes it off there
    }

    // $1-style parameters put Npgsql in raw mode: one statement per command, so nothing can go before it in the text.
    private static bool HasPositionalParameters(NpgsqlParameterCollection parameters)
    {
        for (var i = 0; i < parameters.Count; i++)
        {
            if (string.IsNullOrEmpty(parameters[i].ParameterName))
                return true;
        }
        return false;
    }

    // A parameter belongs to one collection at a time: the caller's objects move into the batch and back, in order.
    private static void MoveParameters(NpgsqlParameterCollection from, NpgsqlParameterCollection to)
    {
        while (from.Count > 0)
        {
            var p = from[0];
            from.RemoveAt(0);
            to.Add(p);
        }
    }
}
