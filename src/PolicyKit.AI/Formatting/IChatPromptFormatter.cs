using Microsoft.Extensions.AI;

namespace PolicyKit.AI;

/// <summary>
/// Turns chat messages into the prompt text a model was trained on (its chat template). The chat client asks for
/// the generation prompt, so a template can open the assistant's turn. Register your own in DI before
/// <c>AddChatClient()</c> to replace the built-in <see cref="PlainChatPromptFormatter"/>.
/// </summary>
public interface IChatPromptFormatter
{
    /// <summary>The prompt for <paramref name="messages"/>.</summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="addGenerationPrompt">Append what opens the assistant's reply (a template's <c>add_generation_prompt</c>).</param>
    /// <exception cref="ArgumentException">The messages cannot be formatted (e.g. no text at all).</exception>
    string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);
}
