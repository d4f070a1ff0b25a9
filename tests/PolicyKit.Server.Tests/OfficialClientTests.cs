using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace PolicyKit.Server.Tests;

/// <summary>The server as the official OpenAI .NET library and Microsoft.Extensions.AI.OpenAI see it.</summary>
[Collection(ServerCollection.Name)]
public sealed class OfficialClientTests(ServerFixture server)
{
    private OpenAIClientOptions Options => new() { Endpoint = new Uri(server.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromMinutes(3) };

    private ChatClient Chat(string model = ServerFixture.ModelId) => new(model, new ApiKeyCredential("not-checked"), Options);

    [Fact]
    public async Task The_official_client_gets_the_exact_answer_with_usage_and_finish_reason()
    {
        var sample = Transform.Samples(1)[0];
        ChatCompletion completion = await Chat().CompleteChatAsync([new UserChatMessage(sample.Prompt)]);

        Assert.Equal(sample.Answer, completion.Content.Single().Text);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        // The answer fills the 32-token default exactly, so the budget, not end-of-sequence, ended it.
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(32, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 200, $"{completion.Usage.InputTokenCount} prompt tokens");
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task The_official_client_streams_the_exact_answer_then_finish_reason_and_usage()
    {
        var sample = Transform.Samples(2)[1];
        var text = new StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage(sample.Prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 32 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
            Assert.StartsWith("chatcmpl-", update.CompletionId);
        }
        Assert.Equal(sample.Answer, text.ToString());
        Assert.True(updates > 3, $"{updates} updates");  // the role, several pieces, the finish reason, the usage
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(32, usage.OutputTokenCount);
    }

    [Fact]
    public async Task The_model_id_names_the_policy_and_the_models_list_offers_each()
    {
        var sample = Transform.Samples(3)[2];
        // always-refresh runs the cache path recomputing everything: the same tokens as no cache.
        ChatCompletion completion = await Chat($"{ServerFixture.ModelId}:always-refresh").CompleteChatAsync([new UserChatMessage(sample.Prompt)]);
        Assert.Equal(sample.Answer, completion.Content.Single().Text);
        Assert.Equal($"{ServerFixture.ModelId}:always-refresh", completion.Model);

        var models = new OpenAIModelClient(new ApiKeyCredential("not-checked"), Options);
        var ids = (await models.GetModelsAsync()).Value.Select(m => m.Id).ToArray();
        Assert.Contains(ServerFixture.ModelId, ids);
        Assert.Contains($"{ServerFixture.ModelId}:dllm-cache", ids);
        Assert.Contains($"{ServerFixture.ModelId}:none", ids);
        Assert.Equal("policykit", (await models.GetModelAsync($"{ServerFixture.ModelId}:dllm-cache")).Value.OwnedBy);
    }

    [Fact]
    public async Task An_unknown_model_is_an_error_the_official_client_reports()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat("gpt-4o").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, error.Status);
        Assert.Contains("gpt-4o", error.Message);
    }

    [Fact]
    public async Task Microsoft_Extensions_AI_gets_the_exact_answer_streaming_and_not()
    {
        var samples = Transform.Samples(5);
        using IChatClient client = Chat().AsIChatClient();

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, samples[3].Prompt)], new ChatOptions { MaxOutputTokens = 32 });
        Assert.Equal(samples[3].Answer, response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(32, response.Usage?.OutputTokenCount);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, samples[4].Prompt)], new ChatOptions { MaxOutputTokens = 32, Temperature = 0, StopSequences = [samples[4].Answer[^4..]] }))
            updates.Add(update);
        var streamed = updates.ToChatResponse();
        // The stop sequence (the answer's last two pairs) ends it early, with "stop".
        Assert.Equal(samples[4].Answer[..^4], streamed.Text);
        Assert.Equal(ChatFinishReason.Stop, streamed.FinishReason);
        Assert.Equal(28, streamed.Usage?.OutputTokenCount);  // the tokens of the text kept (one a character here)
    }

    [Fact]
    public async Task Content_given_as_text_parts_reads_as_one_text()
    {
        var sample = Transform.Samples(6)[5];
        int cut = sample.QuestionStart;
        ChatCompletion completion = await Chat().CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateTextPart(sample.Prompt[..cut]), ChatMessageContentPart.CreateTextPart(sample.Prompt[cut..]))]);
        Assert.Equal(sample.Answer, completion.Content.Single().Text);
    }
}
