namespace RoutingDataSource.Connections;

/// <summary>
/// THE place where ADO.NET's synchronous API waits on the library's async-capable code (called with
/// <c>async: false</c>). Driver I/O on that path is synchronous (Npgsql's sync methods); the thread blocks here only
/// when routing itself must wait: for the first health probe or the one-time function-volatility load, for a primary during a failover, or between retries.
/// </summary>
internal static class SyncPath
{
    public static T Wait<T>(ValueTask<T> operation) => operation.IsCompletedSuccessfully ? operation.Result : operation.AsTask().GetAwaiter().GetResult();

    public static T Wait<T>(Task<T> operation) => operation.GetAwaiter().GetResult();

    public static void Wait(Task operation) => operation.GetAwaiter().GetResult();

    public static void Wait(ValueTask operation)
    {
        if (operation.IsCompletedSuccessfully)
            return;
        operation.AsTask().GetAwaiter().GetResult();
    }
}
