using System.Collections.ObjectModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyKit.Templating.Runtime;

namespace PolicyKit.Templating.Tests;

/// <summary>The public surface: loading from tokenizer_config.json, the messages overload, host values, threads.</summary>
public sealed class ApiTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("policykit-templating-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteConfig(string json, string? jinja = null)
    {
        string path = Path.Combine(_directory, "tokenizer_config.json");
        File.WriteAllText(path, json);
        if (jinja is not null) File.WriteAllText(Path.Combine(_directory, "chat_template.jinja"), jinja);
        return path;
    }

    private static IReadOnlyList<IReadOnlyDictionary<string, object?>> Messages(params (string Role, string Content)[] turns) =>
        turns.Select(t => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?> { ["role"] = t.Role, ["content"] = t.Content }).ToList();

    [Fact]
    public void ReadsARealTokenizerConfigWithItsSpecialTokens()
    {
        var template = ChatTemplate.FromTokenizerConfig(TestData.TemplatePath("qwen3.tokenizer_config.json"), out var tokens);
        Assert.NotNull(template);
        // Qwen3 sets eos, pad; bos and unk are null, which transformers leaves out.
        Assert.Equal(new Dictionary<string, object?> { ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>" }, tokens);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", template!.Render(Messages(("user", "Hi")), addGenerationPrompt: true, tokens));
    }

    [Fact]
    public void TakesTheDefaultOfNamedTemplatesAndTheContentOfTokenObjects()
    {
        string path = WriteConfig("""
            {
              "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
              "eos_token": "</s>",
              "unk_token": null,
              "chat_template": [
                {"name": "tool_use", "template": "TOOLS"},
                {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}
              ]
            }
            """);
        var template = ChatTemplate.FromTokenizerConfig(path, out var tokens);
        Assert.Equal(new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }, tokens);
        Assert.Equal("<s>Hello</s>", template!.Render(Messages(("user", "Hello")), false, tokens));
    }

    [Fact]
    public void FallsBackToChatTemplateJinjaBesideTheConfig()
    {
        string path = WriteConfig("""{"eos_token": "</s>"}""", jinja: "{{ messages[0].content }}{{ eos_token }}\n");
        var template = ChatTemplate.FromTokenizerConfig(path, out var tokens);
        Assert.Equal("x</s>", template!.Render(Messages(("user", "x")), false, tokens));
    }

    [Fact]
    public void ReturnsNullWithoutATemplate()
    {
        // The shipped model's config, as it is today: special tokens, no template.
        string path = WriteConfig("""{"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}""");
        Assert.Null(ChatTemplate.FromTokenizerConfig(path, out var tokens));
        Assert.Equal("<|endoftext|>", tokens["eos_token"]);
    }

    [Theory]
    [InlineData("not json", "is not valid JSON")]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("""{"chat_template": 5}""", "chat_template must be a string or a list")]
    [InlineData("""{"chat_template": [{"name": "rag", "template": "x"}]}""", "without one named \"default\"")]
    [InlineData("""{"eos_token": 3}""", "eos_token must be a string or an object with \"content\"")]
    [InlineData("""{"chat_template": "{% include 'x' %}"}""", "the 'include' tag is not supported")]
    public void BadConfigsFailClearly(string json, string expected)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromTokenizerConfig(WriteConfig(json), out _));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void TheMessagesOverloadPassesNoneForToolsAndDocumentsAsTransformersDoes()
    {
        var template = ChatTemplate.Parse("{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ messages|length }} {{ extra }}");
        Assert.Equal("True True False 1 42", template.Render(Messages(("user", "x")), false, new Dictionary<string, object?> { ["extra"] = 42 }));
        Assert.Throws<ArgumentException>(() => template.Render(Messages(), true, new Dictionary<string, object?> { ["messages"] = null }));
    }

    [Fact]
    public void AcceptsTheUsualDotNetShapesOfValues()
    {
        var template = ChatTemplate.Parse("{{ a }} {{ b }} {{ c }} {{ e }} {{ g|tojson }} {{ h|tojson }} {{ k }} {{ ro.key }} {{ j.x[1] }} {{ node.y }} {{ typed }}");
        var output = template.Render(new Dictionary<string, object?>
        {
            ["a"] = 3,
            ["b"] = 2.5f,
            ["c"] = 1.25m,
            ["e"] = (byte)7,
            ["g"] = new HashSet<string> { "only" },
            ["h"] = new SortedDictionary<string, int> { ["b"] = 2, ["a"] = 1 },
            ["k"] = 'c',
            ["ro"] = new ReadOnlyDictionary<string, object?>(new Dictionary<string, object?> { ["key"] = "value" }),
            ["j"] = JsonDocument.Parse("""{"x": [1, 2.0, "s"]}""").RootElement,
            ["node"] = JsonNode.Parse("""{"y": true}"""),
            ["typed"] = new GenericOnlyMap(new Dictionary<string, JsonElement> { ["q"] = JsonDocument.Parse("[1]").RootElement }),
        });
        Assert.Equal("3 2.5 1.25 7 [\"only\"] {\"a\": 1, \"b\": 2} c value 2.0 True {'q': [1]}", output);
    }

    /// <summary>A generic-only read-only map (no non-generic IDictionary), as some libraries' argument types are.</summary>
    private sealed class GenericOnlyMap(Dictionary<string, JsonElement> inner) : IReadOnlyDictionary<string, JsonElement>
    {
        public JsonElement this[string key] => inner[key];
        public IEnumerable<string> Keys => inner.Keys;
        public IEnumerable<JsonElement> Values => inner.Values;
        public int Count => inner.Count;
        public bool ContainsKey(string key) => inner.ContainsKey(key);
        public bool TryGetValue(string key, out JsonElement value) => inner.TryGetValue(key, out value);
        public IEnumerator<KeyValuePair<string, JsonElement>> GetEnumerator() => inner.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public void StrftimeFollowsPythonsDirectives()
    {
        var time = new DateTime(2026, 3, 5, 14, 7, 9, 123).AddTicks(4560);
        // The same string Python's datetime(2026, 3, 5, 14, 7, 9, 123456).strftime(...) gives on Linux.
        Assert.Equal("05 Mar 2026|5 March 26|Thu Thursday 4|14:07:09 02 PM|064|123456|%|%Q|03",
            Strftime.Format(time, "%d %b %Y|%-d %B %y|%a %A %w|%H:%M:%S %I %p|%j|%f|%%|%Q|%m"));
        Assert.Equal(DateTime.Now.Year.ToString(), ChatTemplate.Parse("{{ strftime_now('%Y') }}").Render(new Dictionary<string, object?>()));
    }

    [Theory]
    [InlineData(2.675, 2, 2.67)]
    [InlineData(2.5, 0, 2.0)]
    [InlineData(3.5, 0, 4.0)]
    [InlineData(-2.5, 0, -2.0)]
    [InlineData(0.125, 2, 0.12)]
    [InlineData(1234.5, -2, 1200.0)]
    [InlineData(1e300, 2, 1e300)]
    public void RoundIsPythonsRound(double value, int digits, double expected) => Assert.Equal(expected, Filters.PythonRound(value, digits));

    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(123456789.125, "123456789.125")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(double.NaN, "nan")]
    public void FloatsPrintAsPythonPrintsThem(double value, string expected) => Assert.Equal(expected, Py.FormatFloat(value));

    [Fact]
    public void OneParsedTemplateRendersConcurrently()
    {
        var template = ChatTemplate.FromTokenizerConfig(TestData.TemplatePath("qwen3.tokenizer_config.json"), out var tokens)!;
        var outputs = new string[64];
        Parallel.For(0, outputs.Length, i =>
            outputs[i] = template.Render(Messages(("system", "s"), ("user", $"question {i}")), true, tokens));
        for (int i = 0; i < outputs.Length; i++)
            Assert.Equal($"<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nquestion {i}<|im_end|>\n<|im_start|>assistant\n", outputs[i]);
    }
}
