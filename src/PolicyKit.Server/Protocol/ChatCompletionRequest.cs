using System.Text.Json;
using Microsoft.Extensions.AI;

namespace PolicyKit.Server.Protocol;

/// <summary>A parsed <c>POST /v1/chat/completions</c> body.</summary>
public sealed record ChatCompletionRequest : GenerationRequest
{
    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    /// <summary>
    /// Parses and checks a request body. Every field is either honoured, accepted at the value that changes nothing
    /// (<c>top_p: 1</c>), ignored because it does not concern generation (<c>user</c>), or refused with a 400 that
    /// names it: tools, structured output, log-probabilities, several choices and unknown fields.
    /// </summary>
    /// <exception cref="OpenAIRequestException">The body is not a valid request for this server.</exception>
    public static ChatCompletionRequest Parse(JsonElement body)
    {
        var fields = JsonFields.Of(body, "");
        ReadCommon(fields, out var model, out var maxTokens, out var temperature, out var seed, out var stop, out var stream, out var includeUsage);
        ReadPolicyKit(fields, out var policy, out var steps, out var blockLength, out var threshold);
        var messages = ReadMessages(fields);

        const string noTools = "this server has no tool calling";
        fields.OnlyNeutral("tools", e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0, noTools);
        fields.OnlyNeutral("tool_choice", e => e.ValueKind == JsonValueKind.String && e.GetString() == "none", noTools);
        fields.OnlyNeutral("parallel_tool_calls", _ => true, noTools);  // meaningless without tools, which are refused above
        fields.OnlyNeutral("functions", _ => false, noTools);
        fields.OnlyNeutral("function_call", _ => false, noTools);
        fields.OnlyNeutral("response_format", IsPlainText, "only {\"type\": \"text\"}: the model cannot be constrained to JSON");
        fields.OnlyNeutral("logprobs", e => e.ValueKind == JsonValueKind.False, "the diffusion sampler reports no log-probabilities");
        fields.OnlyNeutral("top_logprobs", e => JsonFields.IsNumber(e, 0), "the diffusion sampler reports no log-probabilities");
        fields.OnlyNeutral("modalities", e => e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(m => m.ValueKind == JsonValueKind.String && m.GetString() == "text"), "text is the only modality");
        fields.OnlyNeutral("audio", _ => false, "text is the only modality");
        fields.OnlyNeutral("prediction", _ => false, "predicted outputs are not supported");
        fields.OnlyNeutral("web_search_options", _ => false, "this server has no web search");
        fields.OnlyNeutral("reasoning_effort", _ => false, "the model has no reasoning mode");
        fields.RejectUnknown();

        return new ChatCompletionRequest
        {
            Model = model, Messages = messages, MaxTokens = maxTokens, Temperature = temperature, Seed = seed, Stop = stop,
            Stream = stream, IncludeUsage = includeUsage, Policy = policy, Steps = steps, BlockLength = blockLength, Threshold = threshold,
        };
    }

    private static bool IsPlainText(JsonElement format) =>
        format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String &&
        type.GetString() == "text";

    private static List<ChatMessage> ReadMessages(JsonFields fields)
    {
        var array = fields.Required("messages", "the conversation, an array of {role, content}");
        if (array.ValueKind != JsonValueKind.Array) throw fields.TypeError("messages", "an array");
        if (array.GetArrayLength() == 0) throw OpenAIRequestException.BadRequest("messages", "'messages' must hold at least one message.");
        return array.EnumerateArray().Select((element, i) => ReadMessage(element, $"messages[{i}]")).ToList();
    }

    private static ChatMessage ReadMessage(JsonElement element, string path)
    {
        var message = JsonFields.Of(element, path);
        var roleName = message.String("role") ?? throw OpenAIRequestException.BadRequest($"{path}.role", $"'{path}.role' is required.");
        ChatRole role = roleName switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "tool" or "function" => throw OpenAIRequestException.BadRequest($"{path}.role", $"'{path}.role' '{roleName}' is not supported: this server has no tool calling."),
            _ => throw OpenAIRequestException.BadRequest($"{path}.role", $"'{path}.role' must be system, developer, user or assistant (got '{roleName}')."),
        };
        var content = message.Required("content", "the message's text, a string or an array of text parts");
        var contents = content.ValueKind switch
        {
            JsonValueKind.String => [new TextContent(content.GetString())],
            JsonValueKind.Array => content.EnumerateArray().Select((part, j) => ReadTextPart(part, $"{path}.content[{j}]")).ToList<AIContent>(),
            _ => throw message.TypeError("content", "a string or an array of text parts"),
        };
        message.Ignore("name");
        message.OnlyNeutral("refusal", _ => true, "");  // an earlier answer's refusal text says nothing the content does not
        message.OnlyNeutral("tool_calls", e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0, "this server has no tool calling");
        message.OnlyNeutral("function_call", _ => false, "this server has no tool calling");
        message.OnlyNeutral("audio", _ => false, "text is the only modality");
        message.RejectUnknown();
        return new ChatMessage(role, contents);
    }

    private static TextContent ReadTextPart(JsonElement element, string path)
    {
        var part = JsonFields.Of(element, path);
        var type = part.String("type") ?? throw OpenAIRequestException.BadRequest($"{path}.type", $"'{path}.type' is required.");
        if (type != "text")
            throw OpenAIRequestException.BadRequest($"{path}.type", $"'{path}.type' '{type}' is not supported: the model reads text parts only.");
        var text = part.String("text") ?? throw OpenAIRequestException.BadRequest($"{path}.text", $"'{path}.text' is required.");
        part.RejectUnknown();
        return new TextContent(text);
    }
}
