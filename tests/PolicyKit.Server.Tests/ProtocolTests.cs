using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyKit.Server.Tests;

/// <summary>The wire format itself, over plain HTTP: errors that name the field, completions, stop sequences, SSE framing.</summary>
[Collection(ServerCollection.Name)]
public sealed class ProtocolTests(ServerFixture server)
{
    private static JsonObject Chat(params (string Key, JsonNode? Value)[] extra)
    {
        var body = new JsonObject
        {
            ["model"] = ServerFixture.ModelId,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello" }),
        };
        foreach (var (key, value) in extra) body[key] = value;
        return body;
    }

    public static TheoryData<string, string, string?> BadChatRequests => new()
    {
        { "n", """{"n": 2}""", "n" },
        { "tools", """{"tools": [{"type": "function", "function": {"name": "f"}}]}""", "tools" },
        { "json schema", """{"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}""", "response_format" },
        { "unknown field", """{"frobnicate": true}""", "frobnicate" },
        { "logprobs", """{"logprobs": true}""", "logprobs" },
        { "top_p", """{"top_p": 0.5}""", "top_p" },
        { "temperature range", """{"temperature": 5}""", "temperature" },
        { "max_tokens type", """{"max_tokens": "many"}""", "max_tokens" },
        { "max_tokens zero", """{"max_tokens": 0}""", "max_tokens" },
        { "stop type", """{"stop": 3}""", "stop" },
        { "five stops", """{"stop": ["a", "b", "c", "d", "e"]}""", "stop" },
        { "policy", """{"policy": "no-such-policy"}""", "policy" },
        { "threshold", """{"threshold": 0}""", "threshold" },
        { "no messages", """{"messages": []}""", "messages" },
        { "tool role", """{"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}""", "messages[0].role" },
        { "image part", """{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}]}]}""", "messages[0].content[1].type" },
        { "message field", """{"messages": [{"role": "user", "content": "a", "colour": "red"}]}""", "messages[0].colour" },
        { "missing content", """{"messages": [{"role": "user"}]}""", "messages[0].content" },
        { "stream_options field", """{"stream": true, "stream_options": {"include_usage": true, "x": 1}}""", "stream_options.x" },
        { "prompt too long", """{"max_tokens": 1024}""", "messages" },
    };

    [Theory]
    [MemberData(nameof(BadChatRequests))]
    public async Task A_bad_chat_request_gets_400_naming_the_field(string why, string fields, string? param)
    {
        var body = Chat();
        foreach (var (key, value) in JsonNode.Parse(fields)!.AsObject()) body[key] = value?.DeepClone();
        using var response = await server.Http.PostAsJsonAsync("/v1/chat/completions", body);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode} {error}");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task A_body_that_is_not_json_or_not_an_object_gets_400()
    {
        foreach (var text in new[] { "{ not json", "[1, 2]", "" })
        {
            using var response = await server.Http.PostAsync("/v1/chat/completions", new StringContent(text, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        }
    }

    [Fact]
    public async Task Unknown_models_and_paths_get_OpenAI_style_404s()
    {
        using var model = await server.Http.PostAsJsonAsync("/v1/chat/completions", Chat(("model", "gpt-4o")));
        Assert.Equal(HttpStatusCode.NotFound, model.StatusCode);
        Assert.Equal("model_not_found", (await model.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());

        using var path = await server.Http.GetAsync("/v1/embeddings");
        Assert.Equal(HttpStatusCode.NotFound, path.StatusCode);
        Assert.Equal("unknown_url", (await path.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_policy_named_twice_must_agree()
    {
        using var response = await server.Http.PostAsJsonAsync("/v1/chat/completions",
            Chat(("model", $"{ServerFixture.ModelId}:dllm-cache"), ("policy", "none")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("policy", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Completions_answer_the_raw_prompt_with_usage_and_finish_reason()
    {
        var sample = Transform.Samples(1)[0];
        using var response = await server.Http.PostAsJsonAsync("/v1/completions",
            new { model = ServerFixture.ModelId, prompt = sample.Prompt, max_tokens = 32, user = "someone" });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(sample.Answer, choice.GetProperty("text").GetString());
        // The answer fills the budget exactly, so the budget, not end-of-sequence, ended it.
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(sample.Prompt.Length, usage.GetProperty("prompt_tokens").GetInt32());  // one token a character (TaskSuite)
        Assert.Equal(32, usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_budget_shorter_than_the_answer_ends_it_with_length()
    {
        var sample = Transform.Samples(2)[1];
        using var response = await server.Http.PostAsJsonAsync("/v1/completions",
            new { model = $"{ServerFixture.ModelId}:none", prompt = new[] { sample.Prompt }, max_tokens = 20 });
        // 20 tokens are generated as 32 (two whole blocks of 16, the same generation as the default) and cut back.
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(sample.Answer[..20], choice.GetProperty("text").GetString());
        Assert.Equal(20, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Streamed_completions_are_server_sent_events_ending_in_done()
    {
        var sample = Transform.Samples(3)[2];
        var events = await Events("/v1/completions", new
        {
            model = ServerFixture.ModelId, prompt = sample.Prompt, stream = true, stream_options = new { include_usage = true },
        });
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToArray();
        Assert.Equal(sample.Answer, string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(32, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_answer_before_it_streaming_and_not()
    {
        var sample = Transform.Samples(4)[3];
        // Labels are distinct lower-case letters, so a label-value pair first occurs where it stands.
        var stop = sample.Answer.Substring(10, 2);
        var whole = await server.Http.PostAsJsonAsync("/v1/chat/completions", Chat(
            ("messages", new JsonArray(new JsonObject { ["role"] = "user", ["content"] = sample.Prompt })), ("stop", stop)));
        var choice = (await whole.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("choices")[0];
        Assert.Equal(sample.Answer[..10], choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());

        var events = await Events("/v1/chat/completions", Chat(
            ("messages", new JsonArray(new JsonObject { ["role"] = "user", ["content"] = sample.Prompt })),
            ("stop", new JsonArray("no such text", stop)), ("stream", true)));
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToArray();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        var streamed = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var content) ? content.GetString() : ""));
        Assert.Equal(sample.Answer[..10], streamed);
        Assert.Equal("stop", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Health_reports_the_model_and_an_idle_server()
    {
        var health = await server.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(ServerFixture.ModelId, health.GetProperty("model").GetString());
        Assert.Equal("none", health.GetProperty("default_policy").GetString());
        Assert.Equal(0, health.GetProperty("in_flight").GetInt32());
    }

    /// <summary>The data of each server-sent event, in order; checks the framing (<c>data: ...</c> then a blank line).</summary>
    private async Task<string[]> Events(string path, object body)
    {
        using var response = await server.Http.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("\n\n", text);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        return events.Select(e => e["data: ".Length..]).ToArray();
    }
}
