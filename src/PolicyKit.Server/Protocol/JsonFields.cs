using System.Text.Json;

namespace PolicyKit.Server.Protocol;

/// <summary>
/// Reads the fields of one JSON object of a request, each by its OpenAI name, and remembers which were read, so that
/// whatever is left at the end is a field this server does not know: it is refused by name (as OpenAI refuses an
/// unrecognised argument) instead of being silently ignored. JSON <c>null</c> counts as absent, as in OpenAI's API.
/// </summary>
internal sealed class JsonFields
{
    private readonly JsonElement _object;
    private readonly string _path;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private JsonFields(JsonElement element, string path)
    {
        _object = element;
        _path = path;
    }

    /// <summary>The fields of <paramref name="element"/>, which must be an object; <paramref name="path"/> prefixes the names in errors.</summary>
    public static JsonFields Of(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw OpenAIRequestException.BadRequest(path.Length == 0 ? null : path,
                path.Length == 0 ? "The request body must be a JSON object." : $"'{path}' must be an object.");
        return new JsonFields(element, path);
    }

    /// <summary>The full name of a field of this object, as errors give it.</summary>
    public string NameOf(string field) => _path.Length == 0 ? field : $"{_path}.{field}";

    public bool TryGet(string field, out JsonElement value)
    {
        _read.Add(field);
        if (_object.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        value = default;
        return false;
    }

    public JsonElement Required(string field, string what) =>
        TryGet(field, out var value) ? value : throw OpenAIRequestException.BadRequest(NameOf(field), $"'{NameOf(field)}' is required: {what}.");

    public string? String(string field)
    {
        if (!TryGet(field, out var value)) return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw TypeError(field, "a string");
    }

    public bool? Bool(string field)
    {
        if (!TryGet(field, out var value)) return null;
        return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : throw TypeError(field, "a boolean");
    }

    public long? Long(string field, long min = long.MinValue, long max = long.MaxValue)
    {
        if (!TryGet(field, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number)) throw TypeError(field, "an integer");
        if (number < min || number > max)
            throw OpenAIRequestException.BadRequest(NameOf(field), $"'{NameOf(field)}' must be {Range(min, max)} (got {number}).");
        return number;
    }

    public int? Int(string field, int min = int.MinValue, int max = int.MaxValue) => (int?)Long(field, min, max);

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>], or in (<paramref name="min"/>, max] when <paramref name="minExclusive"/>.</summary>
    public double? Double(string field, double min, double max, bool minExclusive = false)
    {
        if (!TryGet(field, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number)) throw TypeError(field, "a number");
        if (!(minExclusive ? number > min : number >= min) || number > max)
            throw OpenAIRequestException.BadRequest(NameOf(field),
                $"'{NameOf(field)}' must be in {(minExclusive ? "(" : "[")}{min}, {max}] (got {number}).");
        return number;
    }

    /// <summary>Marks fields that carry no meaning for generation (<c>user</c>, <c>metadata</c>...) as read.</summary>
    public void Ignore(params string[] fields)
    {
        foreach (var field in fields) _read.Add(field);
    }

    /// <summary>Accepts <paramref name="field"/> only at the value that changes nothing (<c>top_p: 1</c>); any other value is refused with <paramref name="why"/>.</summary>
    public void OnlyNeutral(string field, Func<JsonElement, bool> isNeutral, string why)
    {
        if (TryGet(field, out var value) && !isNeutral(value))
            throw OpenAIRequestException.BadRequest(NameOf(field), $"'{NameOf(field)}' is not supported: {why}.");
    }

    /// <summary>Refuses the first field that was never read.</summary>
    public void RejectUnknown()
    {
        foreach (var property in _object.EnumerateObject())
            if (!_read.Contains(property.Name))
                throw OpenAIRequestException.BadRequest(NameOf(property.Name), $"Unrecognized request argument supplied: {NameOf(property.Name)}.");
    }

    public OpenAIRequestException TypeError(string field, string expected) =>
        OpenAIRequestException.BadRequest(NameOf(field), $"'{NameOf(field)}' must be {expected}.");

    public static bool IsNumber(JsonElement e, double value) => e.ValueKind == JsonValueKind.Number && e.GetDouble() == value;

    private static string Range(long min, long max) =>
        max == long.MaxValue || max == int.MaxValue ? $"at least {min}" : $"in [{min}, {max}]";
}
