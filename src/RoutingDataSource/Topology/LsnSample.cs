namespace RoutingDataSource.Topology;

/// <summary>
/// The primary's WAL insert position, read by a probe round that started at <see cref="Timestamp"/>
/// (<see cref="TimeProvider.GetTimestamp"/> units). Any transaction acknowledged before that moment ends at or
/// before <see cref="Lsn"/>.
/// </summary>
internal readonly record struct LsnSample(long Timestamp, ulong Lsn);
