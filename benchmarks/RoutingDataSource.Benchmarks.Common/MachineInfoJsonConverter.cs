using System.Text.Json;
using System.Text.Json.Serialization;

namespace RoutingDataSource.Benchmarks.Common;

/// <summary>
/// Writes a <see cref="MachineInfo"/> as one flat object, its components as fields of their own between
/// <c>postgreSql</c> and <c>gitCommit</c>, so that results files read as they did when each tool had its own record.
/// Results files are written, never read back.
/// </summary>
internal sealed class MachineInfoJsonConverter : JsonConverter<MachineInfo>
{
    public override MachineInfo Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("Results files are written, never read back.");

    public override void Write(Utf8JsonWriter writer, MachineInfo value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString(Name(nameof(MachineInfo.HostName)), value.HostName);
        writer.WriteNumber(Name(nameof(MachineInfo.Cores)), value.Cores);
        writer.WriteString(Name(nameof(MachineInfo.CpuModel)), value.CpuModel);
        writer.WriteNumber(Name(nameof(MachineInfo.MemoryGiB)), value.MemoryGiB);
        writer.WriteString(Name(nameof(MachineInfo.OperatingSystem)), value.OperatingSystem);
        writer.WriteString(Name(nameof(MachineInfo.DotNet)), value.DotNet);
        writer.WriteString(Name(nameof(MachineInfo.Npgsql)), value.Npgsql);
        writer.WriteString(Name(nameof(MachineInfo.PostgreSql)), value.PostgreSql);
        foreach (var component in value.Components)
            writer.WriteString(Name(component.Name), component.Version);
        writer.WriteString(Name(nameof(MachineInfo.GitCommit)), value.GitCommit);
        writer.WriteEndObject();

        string Name(string property) => options.PropertyNamingPolicy?.ConvertName(property) ?? property;
    }
}
