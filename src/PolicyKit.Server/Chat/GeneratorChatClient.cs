using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Model;
using PolicyKit.Hosting;

namespace PolicyKit.Server;

/// <summary>
/// A minimal <see cref="IChatClient"/> over <see cref="IDiffusionGenerator"/>, the one <c>policykit serve</c> uses until
/// PolicyKit.AI's chat client (chat templates, per-step streaming) replaces it: the prompt is every message's text
/// joined with newlines, no template; the settings come from <see cref="ChatOptions"/> and the
/// <see cref="PolicyKitChatOptions"/> keys. Streaming sends the answer in pieces once it is complete.
/// </summary>
public sealed class GeneratorChatClient(IDiffusionGenerator generator, DiffusionModel model) : IChatClient
{
    /// <summary>Characters per streamed update.</summary>
    private const int StreamPieceLength = 8;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = string.Join("\n", messages.Select(m => m.Text));
        var extra = options?.AdditionalProperties;
        var settings = new GenerationSettings(
            options?.MaxOutputTokens, Get<int>(extra, PolicyKitChatOptions.Steps), Get<int>(extra, PolicyKitChatOptions.BlockLength),
            Get<double>(extra, PolicyKitChatOptions.Threshold), options?.Temperature, options?.Seed);
        var sampler = settings.Apply(generator.DefaultOptions, out int maxTokens);
        string? policy = extra is not null && extra.TryGetValue(PolicyKitChatOptions.Policy, out string? name) ? name : null;

        var result = await generator.GenerateAsync(prompt, sampler, policy, cancellationToken);
        var answer = GeneratedText.From(model, result.TokenIds, maxTokens, options?.StopSequences?.ToArray() ?? []);
        int promptTokens = model.Tokenizer.Encode(prompt).Length;
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, answer.Text))
        {
            ModelId = options?.ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = answer.Finished ? ChatFinishReason.Stop : ChatFinishReason.Length,
            Usage = new UsageDetails { InputTokenCount = promptTokens, OutputTokenCount = answer.CompletionTokens, TotalTokenCount = promptTokens + answer.CompletionTokens },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken);
        var text = response.Text;
        for (int at = 0; at < text.Length; at += StreamPieceLength)
            yield return new ChatResponseUpdate(ChatRole.Assistant, text.Substring(at, Math.Min(StreamPieceLength, text.Length - at)));
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(response.Usage!)])
        {
            FinishReason = response.FinishReason,
            ModelId = response.ModelId,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
        // The generator and the model belong to the container.
    }

    private static T? Get<T>(AdditionalPropertiesDictionary? extra, string key) where T : struct =>
        extra is not null && extra.TryGetValue(key, out T value) ? value : null;
}
