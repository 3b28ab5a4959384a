namespace RoutingDataSource.Classification;

/// <summary>The access mode a BEGIN / START TRANSACTION / SET TRANSACTION statement declares.</summary>
internal enum TransactionAccessMode : byte
{
    None,
    ReadOnly,
    ReadWrite,
}
