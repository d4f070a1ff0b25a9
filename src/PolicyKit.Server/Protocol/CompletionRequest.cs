using System.Text.Json;

namespace PolicyKit.Server.Protocol;

/// <summary>A parsed <c>POST /v1/completions</c> body: a raw prompt, no chat formatting.</summary>
public sealed record CompletionRequest : GenerationRequest
{
    public required string Prompt { get; init; }

    /// <summary>Parses and checks a request body (see <see cref="ChatCompletionRequest.Parse"/> for the rules).</summary>
    /// <exception cref="OpenAIRequestException">The body is not a valid request for this server.</exception>
    public static CompletionRequest Parse(JsonElement body)
    {
        var fields = JsonFields.Of(body, "");
        ReadCommon(fields, out var model, out var maxTokens, out var temperature, out var seed, out var stop, out var stream, out var includeUsage);
        ReadPolicyKit(fields, out var policy, out var steps, out var blockLength, out var threshold);
        var prompt = ReadPrompt(fields);

        if (fields.Int("best_of") is int bestOf && bestOf != 1)
            throw OpenAIRequestException.BadRequest("best_of", $"'best_of' must be 1: this server generates one candidate per request (got {bestOf}).");
        fields.OnlyNeutral("echo", e => e.ValueKind == JsonValueKind.False, "the answer never repeats the prompt");
        fields.OnlyNeutral("suffix", _ => false, "the model does not fill in between a prompt and a suffix here");
        fields.OnlyNeutral("logprobs", e => JsonFields.IsNumber(e, 0), "the diffusion sampler reports no log-probabilities");
        fields.RejectUnknown();

        return new CompletionRequest
        {
            Model = model, Prompt = prompt, MaxTokens = maxTokens, Temperature = temperature, Seed = seed, Stop = stop,
            Stream = stream, IncludeUsage = includeUsage, Policy = policy, Steps = steps, BlockLength = blockLength, Threshold = threshold,
        };
    }

    private static string ReadPrompt(JsonFields fields)
    {
        var prompt = fields.Required("prompt", "the text to continue");
        var text = prompt.ValueKind switch
        {
            JsonValueKind.String => prompt.GetString()!,
            // OpenAI takes a batch of prompts (or token ids) here; one request is one generation on this server.
            JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String => prompt[0].GetString()!,
            JsonValueKind.Array => throw OpenAIRequestException.BadRequest("prompt", "'prompt' must be one string: several prompts or token ids in one request are not supported."),
            _ => throw fields.TypeError("prompt", "a string"),
        };
        return text.Length > 0 ? text : throw OpenAIRequestException.BadRequest("prompt", "'prompt' must not be empty.");
    }
}
