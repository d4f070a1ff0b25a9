using System.Text.Json;

namespace PolicyKit.Server.Protocol;

/// <summary>
/// What a chat or text completion request asks for, besides its input: the OpenAI fields this server honours and
/// PolicyKit's own (<c>policy</c>, <c>steps</c>, <c>block_length</c>, <c>threshold</c>).
/// </summary>
public record GenerationRequest
{
    /// <summary>The <c>model</c> field: the served model's id, or <c>id:policy</c> to name a cache policy.</summary>
    public required string Model { get; init; }

    /// <summary><c>max_tokens</c> (or <c>max_completion_tokens</c>): an upper bound on the answer's tokens.</summary>
    public int? MaxTokens { get; init; }

    public double? Temperature { get; init; }

    public long? Seed { get; init; }

    /// <summary><c>stop</c>: up to 4 strings; the answer ends before the first one it contains.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>: a last chunk with the token usage before <c>[DONE]</c>.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>PolicyKit's <c>policy</c> field: the cache policy (else the one the model id names, else the server's default).</summary>
    public string? Policy { get; init; }

    /// <summary>PolicyKit's <c>steps</c> field: denoising steps.</summary>
    public int? Steps { get; init; }

    /// <summary>PolicyKit's <c>block_length</c> field: semi-autoregressive block length (LLaDA models).</summary>
    public int? BlockLength { get; init; }

    /// <summary>PolicyKit's <c>threshold</c> field: Fast-dLLM parallel decoding at this confidence, in (0, 1].</summary>
    public double? Threshold { get; init; }

    /// <summary>The settings that shape the generation, as the engine takes them.</summary>
    public GenerationSettings Settings => new(MaxTokens, Steps, BlockLength, Threshold, Temperature, Seed);

    /// <summary>OpenAI allows at most this many stop sequences.</summary>
    public const int MaxStopSequences = 4;

    /// <summary>Reads the fields both endpoints share and refuses those that would change what they mean.</summary>
    internal static void ReadCommon(JsonFields fields, out string model, out int? maxTokens, out double? temperature, out long? seed,
        out IReadOnlyList<string> stop, out bool stream, out bool includeUsage)
    {
        var modelElement = fields.Required("model", "the id of a model from GET /v1/models");
        model = modelElement.ValueKind == JsonValueKind.String && modelElement.GetString() is { Length: > 0 } m
            ? m : throw fields.TypeError("model", "a non-empty string");

        maxTokens = fields.Int("max_tokens", min: 1);
        if (fields.Int("max_completion_tokens", min: 1) is int completion)
        {
            if (maxTokens is int legacy && legacy != completion)
                throw OpenAIRequestException.BadRequest("max_tokens", $"'max_tokens' ({legacy}) and 'max_completion_tokens' ({completion}) disagree; give one.");
            maxTokens = completion;
        }
        temperature = fields.Double("temperature", 0, 2);
        seed = fields.Long("seed");
        stop = ReadStop(fields);
        stream = fields.Bool("stream") ?? false;
        includeUsage = false;
        if (fields.TryGet("stream_options", out var streamOptions))
        {
            var options = JsonFields.Of(streamOptions, "stream_options");
            includeUsage = options.Bool("include_usage") ?? false;
            options.Ignore("include_obfuscation");  // no obfuscation field is ever sent
            options.RejectUnknown();
        }

        if (fields.Int("n") is int n && n != 1)
            throw OpenAIRequestException.BadRequest("n", $"'n' must be 1: this server generates one choice per request (got {n}).");
        fields.OnlyNeutral("top_p", e => JsonFields.IsNumber(e, 1), "the diffusion sampler has no nucleus sampling (only top_p = 1)");
        fields.OnlyNeutral("frequency_penalty", e => JsonFields.IsNumber(e, 0), "the diffusion sampler applies no penalties (only 0)");
        fields.OnlyNeutral("presence_penalty", e => JsonFields.IsNumber(e, 0), "the diffusion sampler applies no penalties (only 0)");
        fields.OnlyNeutral("logit_bias", e => e.ValueKind == JsonValueKind.Object && !e.EnumerateObject().Any(), "the diffusion sampler takes no logit bias");
        // Fields that say who asks or how to bill and store, not what to generate.
        fields.Ignore("user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier");
    }

    internal static void ReadPolicyKit(JsonFields fields, out string? policy, out int? steps, out int? blockLength, out double? threshold)
    {
        policy = fields.String("policy");
        if (policy is { Length: 0 }) throw OpenAIRequestException.BadRequest("policy", "'policy' must not be empty.");
        steps = fields.Int("steps", min: 1);
        blockLength = fields.Int("block_length", min: 1);
        threshold = fields.Double("threshold", 0, 1, minExclusive: true);
    }

    private static IReadOnlyList<string> ReadStop(JsonFields fields)
    {
        if (!fields.TryGet("stop", out var stop)) return [];
        var list = stop.ValueKind switch
        {
            JsonValueKind.String => [stop.GetString()!],
            JsonValueKind.Array => stop.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String
                ? e.GetString()!
                : throw OpenAIRequestException.BadRequest($"stop[{i}]", $"'stop[{i}]' must be a string.")).ToList(),
            _ => throw fields.TypeError("stop", "a string or an array of strings"),
        };
        if (list.Count > MaxStopSequences)
            throw OpenAIRequestException.BadRequest("stop", $"'stop' takes at most {MaxStopSequences} sequences (got {list.Count}).");
        if (list.Any(s => s.Length == 0))
            throw OpenAIRequestException.BadRequest("stop", "'stop' sequences must not be empty.");
        return list;
    }
}
