namespace RoutingDataSource.Routing;

/// <summary>Whether a function may run on a standby, as far as the data source knows.</summary>
internal enum FunctionSafety : byte
{
    /// <summary>Not looked up yet: treated as a write until known.</summary>
    Unknown,

    /// <summary>Non-volatile in <c>pg_proc</c>, or listed in <see cref="RoutingOptions.ReadOnlyFunctions"/>.</summary>
    Read,

    /// <summary>Volatile, not found, or listed in <see cref="RoutingOptions.WriteFunctions"/>.</summary>
    Write,
}
