using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.AI;

/// <summary>
/// What one chat request asks of the engine, read from <see cref="ChatOptions"/> over the host's defaults:
/// <c>MaxOutputTokens</c> sets the response length (the gen length is rounded up to whole blocks and the rest cut),
/// <c>Temperature</c>, <c>Seed</c> and <c>StopSequences</c> map to the sampler, and the <c>policykit.*</c> keys of
/// <c>AdditionalProperties</c> choose the policy, steps, block length and threshold. Bad values fail here, naming the
/// option, before any work.
/// </summary>
/// <param name="Sampler">The engine's options (validated).</param>
/// <param name="Policy">The policy to run, or null for the client's (or host's) default.</param>
/// <param name="ResponseLength">Tokens the caller sees at most (the gen length may be longer by less than a block).</param>
/// <param name="StopSequences">Texts that end the response where they first appear (not included).</param>
internal sealed record ChatRequestSettings(SamplerOptions Sampler, string? Policy, int ResponseLength, IReadOnlyList<string> StopSequences)
{
    private const string Properties = "ChatOptions.AdditionalProperties";

    public static ChatRequestSettings From(ChatOptions? options, SamplerOptions defaults, Layout layout)
    {
        var properties = options?.AdditionalProperties;
        foreach (var key in properties?.Keys ?? Enumerable.Empty<string>())
            if (key.StartsWith("policykit.", StringComparison.OrdinalIgnoreCase) && !PolicyKitChatProperties.RequestKeys.Contains(key, StringComparer.Ordinal))
                throw new ArgumentException(
                    $"{Properties}[\"{key}\"] is not a PolicyKit setting. Known: {string.Join(", ", PolicyKitChatProperties.RequestKeys)}.", nameof(options));

        var policy = ReadString(properties, PolicyKitChatProperties.Policy);
        var steps = ReadPositiveInt(properties, PolicyKitChatProperties.Steps);
        var blockLength = ReadPositiveInt(properties, PolicyKitChatProperties.BlockLength);
        var threshold = ReadDouble(properties, PolicyKitChatProperties.Threshold);

        if (options?.MaxOutputTokens is <= 0)
            throw new ArgumentException($"ChatOptions.MaxOutputTokens must be positive (got {options.MaxOutputTokens}).", nameof(options));
        if (blockLength is not null && layout == Layout.Dream)
            throw new ArgumentException($"{Properties}[\"{PolicyKitChatProperties.BlockLength}\"]: a Dream-layout model decodes in one block; leave it out.", nameof(options));

        int responseLength = options?.MaxOutputTokens ?? defaults.GenLength;
        int block = layout == Layout.Dream ? responseLength : blockLength ?? defaults.BlockLength;
        int genLength = (responseLength + block - 1) / block * block;
        int blockCount = genLength / block;

        var sampler = defaults with { GenLength = genLength, BlockLength = block };
        if (options?.Temperature is float temperature) sampler = sampler with { Temperature = temperature };
        if (options?.Seed is long seed) sampler = sampler with { Seed = seed };
        if (threshold is double t) sampler = sampler with { Schedule = TransferSchedule.Threshold, Threshold = t };
        sampler = sampler with { Steps = steps ?? ScaledSteps(defaults, genLength, sampler.Schedule == TransferSchedule.Linear ? blockCount : 1) };

        try
        {
            sampler.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{OptionName(e.ParamName)}: {EngineMessage(e)}", nameof(options), e);
        }

        var stops = new List<string>();
        if (options?.StopSequences is { } stopSequences)
            for (int i = 0; i < stopSequences.Count; i++)
                stops.Add(stopSequences[i] is { Length: > 0 } stop ? stop
                    : throw new ArgumentException($"ChatOptions.StopSequences[{i}] is empty.", nameof(options)));

        return new ChatRequestSettings(sampler, policy, responseLength, stops);
    }

    /// <summary>The host's steps per token applied to <paramref name="genLength"/>, rounded up to a multiple of <paramref name="multiple"/>.</summary>
    private static int ScaledSteps(SamplerOptions defaults, int genLength, int multiple)
    {
        if (genLength == defaults.GenLength) return (defaults.Steps + multiple - 1) / multiple * multiple;
        var steps = (int)Math.Ceiling((double)genLength * defaults.Steps / defaults.GenLength);
        return Math.Max(multiple, (steps + multiple - 1) / multiple * multiple);
    }

    private static string OptionName(string? engineName) => engineName switch
    {
        "gen-length" => "ChatOptions.MaxOutputTokens",
        "block-length" => $"{Properties}[\"{PolicyKitChatProperties.BlockLength}\"]",
        "steps" => $"{Properties}[\"{PolicyKitChatProperties.Steps}\"]",
        "threshold" => $"{Properties}[\"{PolicyKitChatProperties.Threshold}\"]",
        "temperature" => "ChatOptions.Temperature",
        _ => engineName ?? "ChatOptions",
    };

    private static string EngineMessage(ArgumentException e)
    {
        var message = e.Message;
        int suffix = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        if (suffix >= 0) message = message[..suffix];
        var prefix = e.ParamName + ": ";
        return e.ParamName is not null && message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : message;
    }

    private static string? ReadString(AdditionalPropertiesDictionary? properties, string key)
    {
        if (properties is null || !properties.TryGetValue(key, out var value) || value is null) return null;
        var text = value switch
        {
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
            _ => throw Bad(key, value, "a policy name (string)"),
        };
        return string.IsNullOrWhiteSpace(text) ? throw Bad(key, value, "a policy name (string)") : text;
    }

    private static int? ReadPositiveInt(AdditionalPropertiesDictionary? properties, string key)
    {
        if (properties is null || !properties.TryGetValue(key, out var value) || value is null) return null;
        long? number = value switch
        {
            int i => i,
            long l => l,
            short s => s,
            byte b => b,
            double d when d == Math.Floor(d) && Math.Abs(d) < int.MaxValue => (long)d,
            string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json when json.TryGetInt64(out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.String } json when long.TryParse(json.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
        return number is > 0 and <= int.MaxValue ? (int)number.Value : throw Bad(key, value, "a positive integer");
    }

    private static double? ReadDouble(AdditionalPropertiesDictionary? properties, string key)
    {
        if (properties is null || !properties.TryGetValue(key, out var value) || value is null) return null;
        double? number = value switch
        {
            double d => d,
            float f => f,
            decimal m => (double)m,
            int i => i,
            long l => l,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json => json.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.String } json when double.TryParse(json.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
        return number is double n && n > 0 && n <= 1 ? n : throw Bad(key, value, "a number in (0, 1]");
    }

    private static ArgumentException Bad(string key, object value, string expected) =>
        new($"{Properties}[\"{key}\"]: expected {expected}, got {Describe(value)}.", "options");

    private static string Describe(object value) => value switch
    {
        string s => $"\"{s}\"",
        JsonElement json => json.GetRawText(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.GetType().Name,
    };
}
