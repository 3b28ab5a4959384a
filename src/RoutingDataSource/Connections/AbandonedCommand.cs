using Npgsql;

namespace RoutingDataSource.Connections;

internal static class AbandonedCommand
{
    /// <summary>
    /// A new Npgsql command to run instead of <paramref name="old"/>, whose statement was abandoned on a hung server and
    /// may resume whenever that server does: same text and settings, and the parameters moved over, so the caller's
    /// references to them stay valid. The old one must never run another statement. The parameters are taken from
    /// <paramref name="holder"/> when the statement ran with them elsewhere (a positioned write's or guarded read's
    /// batch), else from <paramref name="old"/>.
    /// </summary>
    public static NpgsqlCommand Replacement(NpgsqlCommand old, NpgsqlParameterCollection? holder = null)
    {
        var fresh = new NpgsqlCommand
        {
            CommandText = old.CommandText,
            CommandType = old.CommandType,
            CommandTimeout = old.CommandTimeout,
            UpdatedRowSource = old.UpdatedRowSource,
            AllResultTypesAreUnknown = old.AllResultTypesAreUnknown,
        };
        if (old.UnknownResultTypeList is { } unknown)
            fresh.UnknownResultTypeList = unknown;
        holder ??= old.Parameters;
        var parameters = holder.ToArray();
        holder.Clear();
        fresh.Parameters.AddRange(parameters);
        return fresh;
    }
}
