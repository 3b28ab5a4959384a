using System.Data.Common;

namespace RoutingDataSource;

/// <summary>
/// Raised by the data source when it cannot route or complete an operation: no writable primary, two primaries,
/// or a failure it must not retry. <see cref="DbException.IsTransient"/> says whether trying the whole unit of work
/// again may succeed.
/// </summary>
public class RoutingException : DbException
{
    /// <summary>Creates the exception.</summary>
    public RoutingException(string message, Exception? innerException = null, string? backendName = null, bool isTransient = false)
        : base(message, innerException)
    {
        BackendName = backendName;
        _isTransient = isTransient;
    }

    private readonly bool _isTransient;

    /// <summary>The backend the failed operation was on or was meant for, when there was one.</summary>
    public string? BackendName { get; }

    /// <inheritdoc />
    public override bool IsTransient => _isTransient;
}
