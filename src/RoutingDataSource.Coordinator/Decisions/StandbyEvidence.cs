namespace RoutingDataSource.Coordinator.Decisions;

/// <summary>
/// What one standby said, in the same probe round, about the primary: whether its WAL receiver still streams and
/// from where (<paramref name="StreamsFromPrimary"/>: true or false when its sender host and port identify the
/// server, null when they are unknown, e.g. a role without <c>pg_read_all_stats</c>).
/// </summary>
internal sealed record StandbyEvidence(string Name, bool Reachable, string? ReceiverStatus, bool? StreamsFromPrimary)
{
    /// <summary>Streams from the primary, or streams from an unknown sender (which must then be assumed to be it).</summary>
    public bool StillStreams => Reachable && ReceiverStatus == "streaming" && StreamsFromPrimary != false;

    public string Describe() => !Reachable
        ? $"{Name}: unreachable"
        : ReceiverStatus is null
            ? $"{Name}: no WAL receiver"
            : StreamsFromPrimary == false
                ? $"{Name}: receiver {ReceiverStatus} from another server"
                : $"{Name}: receiver {ReceiverStatus}";
}
