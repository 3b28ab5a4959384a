using RoutingDataSource.Classification;

namespace RoutingDataSource.Tests.Classification;

public sealed class TransactionControlTests
{
    private static SqlClassification Classify(string sql) => new SqlClassifier(cacheCapacity: 0).Classify(sql);

    [Theory]
    [InlineData("BEGIN", TransactionControlKind.Begin)]
    [InlineData("begin work", TransactionControlKind.Begin)]
    [InlineData("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE", TransactionControlKind.Begin)]
    [InlineData("START TRANSACTION", TransactionControlKind.Begin)]
    [InlineData("COMMIT", TransactionControlKind.Commit)]
    [InlineData("COMMIT AND CHAIN", TransactionControlKind.Commit)]
    [InlineData("END TRANSACTION", TransactionControlKind.Commit)]
    [InlineData("ROLLBACK", TransactionControlKind.Rollback)]
    [InlineData("ROLLBACK WORK AND NO CHAIN", TransactionControlKind.Rollback)]
    [InlineData("ABORT", TransactionControlKind.Rollback)]
    [InlineData("SAVEPOINT sp1", TransactionControlKind.Savepoint)]
    [InlineData("RELEASE sp1", TransactionControlKind.ReleaseSavepoint)]
    [InlineData("RELEASE SAVEPOINT sp1", TransactionControlKind.ReleaseSavepoint)]
    [InlineData("ROLLBACK TO sp1", TransactionControlKind.RollbackToSavepoint)]
    [InlineData("ROLLBACK TO SAVEPOINT sp1", TransactionControlKind.RollbackToSavepoint)]
    [InlineData("ROLLBACK TRANSACTION TO SAVEPOINT sp1", TransactionControlKind.RollbackToSavepoint)]
    [InlineData("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", TransactionControlKind.SetTransaction)]
    [InlineData("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", TransactionControlKind.SetTransaction)]
    public void Transaction_control_statements_say_what_they_do(string sql, TransactionControlKind expected)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.TransactionControl, c.Kind);
        Assert.Equal(expected, c.TransactionControl);
        Assert.False(c.IsReadOnlyTransactionStart);
    }

    [Theory]
    [InlineData("BEGIN READ ONLY")]
    [InlineData("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE")]
    [InlineData("START TRANSACTION READ ONLY")]
    [InlineData("start transaction isolation level repeatable read read only")]
    [InlineData("SET TRANSACTION READ ONLY")]
    [InlineData("BEGIN; SET TRANSACTION READ ONLY")]
    [InlineData("BEGIN READ ONLY; SELECT 1")]
    public void Read_only_transaction_start_is_recognised(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.TransactionControl, c.Kind);
        Assert.True(c.IsReadOnlyTransactionStart);
    }

    [Theory]
    [InlineData("START TRANSACTION READ WRITE")]
    [InlineData("BEGIN ISOLATION LEVEL READ COMMITTED")]
    [InlineData("BEGIN READ ONLY, READ WRITE")]
    public void Read_write_or_unspecified_transaction_is_not_read_only(string sql)
    {
        Assert.False(Classify(sql).IsReadOnlyTransactionStart);
    }

    [Fact]
    public void Read_only_start_with_a_write_in_the_same_text_is_not_a_read_only_start()
    {
        var c = Classify("BEGIN READ ONLY; INSERT INTO t VALUES (1)");
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(TransactionControlKind.Begin, c.TransactionControl);
        Assert.False(c.IsReadOnlyTransactionStart);
    }

    [Theory]
    [InlineData("PREPARE TRANSACTION 'gid'")]
    [InlineData("COMMIT PREPARED 'gid'")]
    [InlineData("ROLLBACK PREPARED 'gid'")]
    public void Two_phase_commit_operations_are_writes(string sql)
    {
        var c = Classify(sql);
        Assert.Equal(StatementKind.Write, c.Kind);
        Assert.Equal(TransactionControlKind.None, c.TransactionControl);
    }

    [Fact]
    public void Session_characteristics_are_session_state_not_a_transaction_start()
    {
        var c = Classify("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
        Assert.Equal(StatementKind.SessionState, c.Kind);
        Assert.False(c.IsReadOnlyTransactionStart);
        Assert.Equal(TransactionControlKind.None, c.TransactionControl);
    }

    [Theory]
    [InlineData("COMMIT AND CHAIN", TransactionControlKind.Commit, true)]
    [InlineData("END WORK AND CHAIN", TransactionControlKind.Commit, true)]
    [InlineData("ROLLBACK TRANSACTION AND CHAIN", TransactionControlKind.Rollback, true)]
    [InlineData("ABORT AND CHAIN", TransactionControlKind.Rollback, true)]
    [InlineData("COMMIT AND NO CHAIN", TransactionControlKind.Commit, false)]
    [InlineData("ROLLBACK", TransactionControlKind.Rollback, false)]
    public void And_chain_keeps_a_transaction_open(string sql, TransactionControlKind kind, bool chains)
    {
        var c = Classify(sql);
        Assert.Equal(kind, c.TransactionControl);
        Assert.Equal(chains, c.ChainsTransaction);
    }
}
