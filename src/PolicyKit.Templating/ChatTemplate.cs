using System.Text;
using System.Text.Json;
using PolicyKit.Templating.Runtime;
using PolicyKit.Templating.Syntax;

namespace PolicyKit.Templating;

/// <summary>
/// A parsed Hugging Face chat template (the Jinja <c>chat_template</c> of a <c>tokenizer_config.json</c>), rendered
/// the way transformers' <c>apply_chat_template</c> renders it: Jinja with <c>trim_blocks</c> and
/// <c>lstrip_blocks</c>, loop controls, transformers' <c>tojson</c> (<c>ensure_ascii=False</c>), and the globals
/// <c>raise_exception</c> and <c>strftime_now</c>. Parse once and reuse: a parsed template is immutable and
/// thread-safe, and rendering compiles nothing.
/// </summary>
/// <remarks>
/// The supported subset is what real chat templates use: <c>{{ }}</c>, <c>{% %}</c>, <c>{# #}</c>, whitespace
/// control, if/elif/else, for (loop variables, for-else, unpacking, an <c>if</c> filter, break/continue), set (also
/// <c>namespace()</c> attributes and block set), macros, the common filters, tests, operators, slices, and the Python
/// string and dict methods templates call. Anything else (include, extends, call blocks, recursive loops, unknown
/// filters, tests, functions or methods) is refused by <see cref="Parse"/> with the construct named.
/// </remarks>
public sealed class ChatTemplate
{
    private readonly Stmt[] _body;

    private ChatTemplate(string source, Stmt[] body)
    {
        Source = source;
        _body = body;
    }

    /// <summary>The template text as given to <see cref="Parse"/>.</summary>
    public string Source { get; }

    /// <summary>
    /// Parses a template once. Throws <see cref="ChatTemplateException"/> (with the construct named, and the line
    /// and column) for syntax errors and for any construct outside the supported subset.
    /// </summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        // Jinja normalizes newlines and drops one trailing newline (keep_trailing_newline=False).
        string text = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (text.EndsWith('\n')) text = text[..^1];
        return new ChatTemplate(source, Parser.Parse(new SourceText(text)));
    }

    /// <summary>
    /// Renders with a context of plain .NET values: string, bool, integers, floating point, null, lists (any
    /// <see cref="System.Collections.IEnumerable"/>), dictionaries (any <see cref="System.Collections.IDictionary"/>, or
    /// any <c>IDictionary&lt;string, T&gt;</c> / <c>IReadOnlyDictionary&lt;string, T&gt;</c>; keys keep their order), and
    /// <see cref="JsonElement"/> or JSON nodes. Throws
    /// <see cref="ChatTemplateException"/> for runtime errors; for <c>raise_exception(msg)</c> its
    /// <see cref="ChatTemplateException.Reason"/> is the template's own message.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var variables = new Dictionary<string, object?>(context.Count, StringComparer.Ordinal);
        foreach (var pair in context) variables[pair.Key] = Py.FromHost(pair.Value, pair.Key);
        var output = new StringBuilder();
        Stmt.ExecuteAll(_body, new Scope(null, variables), output);
        return output.ToString();
    }

    /// <summary>
    /// The usual transformers call: <c>messages</c> (each a dictionary with "role", "content" and maybe more, such as
    /// "tool_calls" or "reasoning_content"), <c>add_generation_prompt</c>, and <paramref name="variables"/>: the special
    /// tokens (bos_token, eos_token, ...; see <see cref="FromTokenizerConfig"/>), <c>tools</c>, <c>documents</c> and any
    /// extra template variable (e.g. <c>enable_thinking</c>). As transformers does, <c>tools</c> and <c>documents</c>
    /// are None unless given.
    /// </summary>
    public string Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var context = new Dictionary<string, object?>(StringComparer.Ordinal) { ["tools"] = null, ["documents"] = null };
        if (variables is not null)
        {
            foreach (var pair in variables)
            {
                if (pair.Key is "messages" or "add_generation_prompt")
                    throw new ArgumentException($"'{pair.Key}' is set by the {pair.Key} argument; leave it out of variables", nameof(variables));
                context[pair.Key] = pair.Value;
            }
        }
        context["messages"] = messages;
        context["add_generation_prompt"] = addGenerationPrompt;
        return Render(context);
    }

    /// <summary>
    /// Reads the chat template of a checkpoint: <c>chat_template</c> from <paramref name="tokenizerConfigPath"/> (the
    /// string form, or the list of <c>{"name", "template"}</c> form, of which it takes "default"), else a
    /// <c>chat_template.jinja</c> file beside it, as newer checkpoints ship. Returns null when the checkpoint has no
    /// template. <paramref name="specialTokens"/> receives the special tokens that are set (bos_token, eos_token,
    /// pad_token, unk_token, sep_token, cls_token, mask_token; string or <c>{"content": ...}</c> form), which
    /// transformers passes to the template as variables.
    /// </summary>
    public static ChatTemplate? FromTokenizerConfig(string tokenizerConfigPath, out IReadOnlyDictionary<string, object?> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizerConfigPath);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(tokenizerConfigPath));
        }
        catch (JsonException e)
        {
            throw new ChatTemplateException($"{tokenizerConfigPath} is not valid JSON: {e.Message}", innerException: e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ChatTemplateException($"{tokenizerConfigPath}: expected a JSON object");

            var tokens = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var name in (string[])["bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token", "mask_token"])
            {
                if (!root.TryGetProperty(name, out var token)) continue;
                string? text = token.ValueKind switch
                {
                    JsonValueKind.String => token.GetString(),
                    JsonValueKind.Object when token.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
                    JsonValueKind.Null => null,
                    _ => throw new ChatTemplateException($"{tokenizerConfigPath}: {name} must be a string or an object with \"content\""),
                };
                // transformers' special_tokens_map leaves out the tokens that are not set.
                if (!string.IsNullOrEmpty(text)) tokens[name] = text;
            }
            specialTokens = tokens;

            string? source = null;
            if (root.TryGetProperty("chat_template", out var template))
            {
                source = template.ValueKind switch
                {
                    JsonValueKind.String => template.GetString(),
                    JsonValueKind.Array => DefaultOf(template, tokenizerConfigPath),
                    JsonValueKind.Null => null,
                    _ => throw new ChatTemplateException($"{tokenizerConfigPath}: chat_template must be a string or a list of {{\"name\", \"template\"}}"),
                };
            }
            if (source is null)
            {
                string sibling = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerConfigPath))!, "chat_template.jinja");
                if (File.Exists(sibling)) source = File.ReadAllText(sibling);
            }
            return source is null ? null : Parse(source);
        }
    }

    private static string DefaultOf(JsonElement templates, string path)
    {
        foreach (var entry in templates.EnumerateArray())
        {
            if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                && name.GetString() == "default" && entry.TryGetProperty("template", out var body) && body.ValueKind == JsonValueKind.String)
                return body.GetString()!;
        }
        throw new ChatTemplateException($"{path}: chat_template is a list of named templates without one named \"default\"");
    }
}
