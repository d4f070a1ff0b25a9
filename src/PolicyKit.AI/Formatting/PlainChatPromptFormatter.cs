using Microsoft.Extensions.AI;

namespace PolicyKit.AI;

/// <summary>
/// The formatter for models without a chat template, such as the shipped <c>policykit-ref</c>, which was trained on
/// bare task prompts: the text of the system, user and assistant messages in order, joined by <c>"\n"</c>. A single
/// user message therefore reaches the model unchanged. Tool messages and non-text contents are left out; there is
/// no generation prompt to add.
/// </summary>
public sealed class PlainChatPromptFormatter : IChatPromptFormatter
{
    /// <summary>One shared instance (the formatter holds no state).</summary>
    public static PlainChatPromptFormatter Instance { get; } = new();

    public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var parts = new List<string>(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new ArgumentException($"messages[{i}] is null.", nameof(messages));
            if (message.Role != ChatRole.System && message.Role != ChatRole.User && message.Role != ChatRole.Assistant)
                continue;
            if (message.Text is { Length: > 0 } text)
                parts.Add(text);
        }
        if (parts.Count == 0)
            throw new ArgumentException("The messages hold no system, user or assistant text to build a prompt from.", nameof(messages));
        return string.Join("\n", parts);
    }
}
