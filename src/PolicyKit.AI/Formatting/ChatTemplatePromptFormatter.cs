using Microsoft.Extensions.AI;
using PolicyKit.Templating;

namespace PolicyKit.AI;

/// <summary>
/// Formats messages with a checkpoint's own chat template (the Jinja <c>chat_template</c> of its
/// <c>tokenizer_config.json</c>), rendered as Hugging Face transformers renders it, with the special-token strings
/// (<c>bos_token</c>, <c>eos_token</c>, ...) the config names as template variables.
/// </summary>
public sealed class ChatTemplatePromptFormatter : IChatPromptFormatter
{
    private readonly ChatTemplate _template;
    private readonly IReadOnlyDictionary<string, object?> _variables;

    public ChatTemplatePromptFormatter(ChatTemplate template, IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        _template = template;
        _variables = variables ?? new Dictionary<string, object?>();
    }

    /// <summary>
    /// The formatter of the checkpoint in <paramref name="modelDirectory"/>, or null when its tokenizer_config.json is
    /// missing or declares no chat template.
    /// </summary>
    /// <exception cref="ChatTemplateException">The template uses a construct PolicyKit does not support (named in the message).</exception>
    public static ChatTemplatePromptFormatter? FromModelDirectory(string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        var config = Path.Combine(modelDirectory, "tokenizer_config.json");
        if (!File.Exists(config)) return null;
        var template = ChatTemplate.FromTokenizerConfig(config, out var specialTokens);
        return template is null ? null : new ChatTemplatePromptFormatter(template, specialTokens);
    }

    public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new IReadOnlyDictionary<string, object?>[messages.Count];
        for (int i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new ArgumentException($"messages[{i}] is null.", nameof(messages));
            // Text content as a string ("" rather than null: templates such as Qwen3's test `'</think>' in content`).
            turns[i] = new Dictionary<string, object?> { ["role"] = message.Role.Value, ["content"] = message.Text ?? "" };
        }
        try
        {
            return _template.Render(turns, addGenerationPrompt, _variables);
        }
        catch (ChatTemplateException e)
        {
            throw new ArgumentException($"The model's chat template rejected the messages: {e.Message}", nameof(messages), e);
        }
    }
}
