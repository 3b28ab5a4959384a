namespace WebApiSample;

/// <summary>The body of POST /items.</summary>
public sealed record NewItem(string Name);

/// <summary>An item as the API returns it, with the backend that served the read (to show the routing).</summary>
public sealed record Item(long Id, string Name, string? ServedBy);

/// <summary>A row of <c>items</c> as Dapper reads it.</summary>
internal sealed record ItemRow(long Id, string Name, int ServerPort);
