using System.Text.Json;

namespace PolicyKit.Templating.Tests;

/// <summary>The committed templates, conversations and the outputs Hugging Face's Jinja rendered for them (tools/jinja-oracle).</summary>
internal static class TestData
{
    public static string Directory { get; } = Path.Combine(AppContext.BaseDirectory, "TestData");

    public static string TemplatePath(string file) => Path.Combine(Directory, "templates", file);

    public static JsonElement Load(string file) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, file))).RootElement;

    /// <summary>JSON as the plain .NET values an application passes: dictionaries, lists, strings, long, double, bool, null.</summary>
    public static object? ToPlain(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => ToPlain(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().Select(ToPlain).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out long l) && !element.GetRawText().Contains('.') ? (object)l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
