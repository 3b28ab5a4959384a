using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace RoutingDataSource.DependencyInjection;

/// <summary>
/// Reads a configuration section into <see cref="RoutingDataSourceSettings"/> by hand rather than through the binder,
/// which drops an array element whose value does not convert (a backend with <c>"Weight": "heavy"</c> vanished) and
/// ignores unknown keys. Every problem is kept, with its configuration path, for the start-up validation.
/// </summary>
internal static class SettingsReader
{
    private static readonly string[] BackendKeys = [nameof(BackendSettings.Name), nameof(BackendSettings.ConnectionString), nameof(BackendSettings.Weight)];

    // Every public property of RoutingOptions is a setting at the section's top level, so a new option needs no change here.
    private static readonly PropertyInfo[] OptionProperties = typeof(RoutingOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);

    private static readonly string[] TopLevelKeys =
        [.. OptionProperties.Select(p => p.Name).Append(nameof(RoutingDataSourceSettings.Backends)).Order(StringComparer.Ordinal)];

    public static void Read(IConfiguration configuration, RoutingDataSourceSettings settings)
    {
        var path = (configuration as IConfigurationSection)?.Path;
        settings.ConfigurationPath = path;
        var problems = settings.Problems;
        if (configuration is IConfigurationSection { } section && !section.Exists())
        {
            problems.Add($"{section.Path}: the configuration section is missing or empty (is its name right? it holds \"Backends\": [...] and the options).");
            return;
        }
        foreach (var child in configuration.GetChildren())
        {
            if (string.Equals(child.Key, nameof(RoutingDataSourceSettings.Backends), StringComparison.OrdinalIgnoreCase))
                ReadBackends(child, settings.Backends, problems);
            else if (OptionProperties.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase)) is { } property)
                ReadOption(child, property, settings.Options, problems);
            else if (path is not null)
                problems.Add(Unknown(child, TopLevelKeys)); // a section's every key is ours; a whole root also holds Logging etc.
        }
    }

    private static void ReadBackends(IConfigurationSection backends, IList<BackendSettings> into, List<string> problems)
    {
        if (backends.Value is { Length: > 0 })
            problems.Add($"{backends.Path}: expected a list of backends ({backends.Path}:0:Name, {backends.Path}:0:ConnectionString, ...), not a value.");
        foreach (var item in backends.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue))
        {
            var backend = new BackendSettings { Path = item.Path };
            foreach (var child in item.GetChildren())
            {
                if (string.Equals(child.Key, nameof(BackendSettings.Name), StringComparison.OrdinalIgnoreCase))
                    backend.Name = child.Value ?? "";
                else if (string.Equals(child.Key, nameof(BackendSettings.ConnectionString), StringComparison.OrdinalIgnoreCase))
                    backend.ConnectionString = child.Value ?? "";
                else if (string.Equals(child.Key, nameof(BackendSettings.Weight), StringComparison.OrdinalIgnoreCase))
                {
                    if (Convert(child, typeof(int), problems) is int weight)
                        backend.Weight = weight;
                }
                else
                {
                    problems.Add(Unknown(child, BackendKeys));
                }
            }
            into.Add(backend);
        }
    }

    private static void ReadOption(IConfigurationSection section, PropertyInfo property, RoutingOptions options, List<string> problems)
    {
        if (property.GetValue(options) is ICollection<string> list && property.PropertyType != typeof(string))
        {
            if (section.Value is { Length: > 0 })
                problems.Add($"{section.Path}: expected a list ({section.Path}:0, {section.Path}:1, ...), not a value.");
            foreach (var item in section.GetChildren())
            {
                if (item.Value is { Length: > 0 } name)
                    list.Add(name);
            }
            return;
        }
        if (!property.CanWrite)
            throw new NotSupportedException($"RoutingOptions.{property.Name} cannot be read from configuration.");
        if (section.Value is null)
        {
            problems.Add($"{section.Path}: expected a value, not a section.");
            return;
        }
        if (Nullable.GetUnderlyingType(property.PropertyType) is { } underlying)
        {
            // An empty value clears a limit that may be null (as the binder does): "MaxReplicationLag": "".
            if (section.Value.Length == 0)
                property.SetValue(options, null);
            else if (Convert(section, underlying, problems) is { } value)
                property.SetValue(options, value);
            return;
        }
        if (Convert(section, property.PropertyType, problems) is { } converted)
            property.SetValue(options, converted);
    }

    /// <summary>The value of <paramref name="section"/> as <paramref name="type"/>, or null after adding the problem.</summary>
    private static object? Convert(IConfigurationSection section, Type type, List<string> problems)
    {
        var text = section.Value?.Trim() ?? "";
        (object? Value, string Expected) result = type switch
        {
            _ when type == typeof(string) => (text, "text"),
            _ when type == typeof(int) => (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : null, "a whole number"),
            _ when type == typeof(long) => (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null, "a whole number"),
            _ when type == typeof(bool) => (bool.TryParse(text, out var b) ? b : null, "true or false"),
            _ when type == typeof(TimeSpan) => (Durations.TryParse(text, out var t) ? t : null, "a duration (e.g. \"00:00:01\", \"1s\", \"500ms\")"),
            _ when type.IsEnum => (EnumValue(type, text), "one of " + string.Join(", ", Enum.GetNames(type))),
            _ => throw new NotSupportedException($"Settings of type {type} cannot be read from configuration."),
        };
        if (result.Value is null)
            problems.Add($"{section.Path}: '{section.Value}' is not {result.Expected}.");
        return result.Value;
    }

    // By name only: Enum.TryParse also takes any number, defined or not.
    private static object? EnumValue(Type type, string text)
        => text.Length > 0 && char.IsLetter(text[0]) && Enum.TryParse(type, text, ignoreCase: true, out var value) && Enum.IsDefined(type, value!) ? value : null;

    private static string Unknown(IConfigurationSection child, string[] known)
        => $"{child.Path}: unknown setting (known here: {string.Join(", ", known)}).";
}
