using System.Text.Json;

namespace PolicyKit.Templating.Tests;

/// <summary>
/// A differential test: 60 random conversations (edge whitespace, unicode, Jinja syntax and think/tool tags in the
/// text, random tool-call arguments, reasoning_content, tools, enable_thinking) for every committed template, as
/// Python's Jinja2 with transformers' settings rendered them (tools/jinja-oracle/random_cases.py). Here the messages
/// go in as <see cref="JsonElement"/>s, the other path values take.
/// </summary>
public class RandomConversationTests
{
    [Fact]
    public void RandomConversationsRenderExactlyAsPythonJinja2()
    {
        var root = TestData.Load("random-cases.json");
        var conversations = root.GetProperty("conversations").EnumerateArray().ToList();
        var templates = new Dictionary<string, (ChatTemplate Template, Dictionary<string, object?> Variables)>();
        foreach (var entry in TestData.Load("templates.json").GetProperty("templates").EnumerateArray())
        {
            var variables = new Dictionary<string, object?>();
            ChatTemplate template;
            if (entry.TryGetProperty("jinja", out var jinja))
                template = ChatTemplate.Parse(File.ReadAllText(TestData.TemplatePath(jinja.GetString()!)));
            else
            {
                template = ChatTemplate.FromTokenizerConfig(TestData.TemplatePath(entry.GetProperty("config").GetString()!), out var tokens)!;
                foreach (var pair in tokens) variables[pair.Key] = pair.Value;
            }
            if (entry.TryGetProperty("variables", out var extra))
                foreach (var property in extra.EnumerateObject()) variables[property.Name] = property.Value;
            templates[entry.GetProperty("name").GetString()!] = (template, variables);
        }

        var mismatches = new List<string>();
        int rendered = 0, errors = 0;
        foreach (var result in root.GetProperty("results").EnumerateArray())
        {
            var (template, variables) = templates[result.GetProperty("template").GetString()!];
            var conversation = conversations[result.GetProperty("conversation").GetInt32()];
            var context = new Dictionary<string, object?>(variables)
            {
                ["messages"] = conversation.GetProperty("messages"),
                ["tools"] = conversation.TryGetProperty("tools", out var tools) ? tools : null,
                ["documents"] = null,
                ["add_generation_prompt"] = result.GetProperty("add_generation_prompt").GetBoolean(),
            };
            if (conversation.TryGetProperty("variables", out var extra))
                foreach (var property in extra.EnumerateObject()) context[property.Name] = property.Value;

            string? output = null;
            ChatTemplateException? error = null;
            try
            {
                output = template.Render(context);
            }
            catch (ChatTemplateException e)
            {
                error = e;
            }
            bool same;
            if (result.TryGetProperty("output", out var expected))
            {
                rendered++;
                same = output == expected.GetString();
            }
            else
            {
                errors++;
                bool raised = result.GetProperty("raised").GetBoolean();
                same = error is not null && error.RaisedByTemplate == raised && (!raised || error.Reason == result.GetProperty("error").GetString());
            }
            if (!same)
                mismatches.Add($"{result.GetProperty("template")} / conversation {result.GetProperty("conversation")}: expected "
                    + (expected.ValueKind == JsonValueKind.String ? JsonSerializer.Serialize(expected.GetString()) : $"error {result.GetProperty("error")}")
                    + ", got " + (output is not null ? JsonSerializer.Serialize(output) : $"error {error!.Message}"));
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(5)));
        Assert.True(rendered >= 300 && errors >= 20, $"{rendered} rendered, {errors} errors: the data set is too thin");
    }
}
