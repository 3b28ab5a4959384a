namespace RoutingDataSource;

/// <summary>
/// What a transaction-control statement does to the transaction.
/// </summary>
/// <remarks>
/// <c>PREPARE TRANSACTION</c>, <c>COMMIT PREPARED</c> and <c>ROLLBACK PREPARED</c> are two-phase-commit
/// operations that only a primary can run: they are classified as <see cref="StatementKind.Write"/>
/// and report <see cref="None"/> here.
/// </remarks>
public enum TransactionControlKind
{
    /// <summary>The text holds no transaction-control statement.</summary>
    None,

    /// <summary><c>BEGIN</c> or <c>START TRANSACTION</c>.</summary>
    Begin,

    /// <summary><c>COMMIT</c> or <c>END</c> (with or without <c>AND CHAIN</c>).</summary>
    Commit,

    /// <summary><c>ROLLBACK</c> or <c>ABORT</c> (with or without <c>AND CHAIN</c>).</summary>
    Rollback,

    /// <summary><c>SAVEPOINT name</c>.</summary>
    Savepoint,

    /// <summary><c>RELEASE [SAVEPOINT] name</c>.</summary>
    ReleaseSavepoint,

    /// <summary><c>ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name</c>.</summary>
    RollbackToSavepoint,

    /// <summary><c>SET TRANSACTION ...</c> (isolation level, access mode, deferrable, snapshot).</summary>
    SetTransaction,
}
