using System.Text.Json;
using System.Text.Json.Serialization;

namespace RoutingDataSource.Coordinator.Http;

/// <summary>The API's JSON: camelCase, enums as camelCase strings, nulls written (the contract has <c>"primary": null</c>).</summary>
internal static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}
