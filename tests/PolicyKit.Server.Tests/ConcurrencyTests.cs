using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace PolicyKit.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class ConcurrencyTests(ServerFixture server)
{
    [Fact]
    public async Task Sixteen_concurrent_streaming_clients_each_get_their_own_exact_answer_and_no_session_is_left()
    {
        var samples = Transform.Samples(16);
        var before = await server.HealthAsync();
        // One client object per caller, as separate applications would have.
        var answers = await Task.WhenAll(samples.Select(async sample =>
        {
            var chat = new ChatClient(ServerFixture.ModelId, new ApiKeyCredential("x"),
                new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromMinutes(3) });
            var text = new StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(sample.Prompt)]))
                foreach (var part in update.ContentUpdate) text.Append(part.Text);
            return text.ToString();
        }));

        for (int i = 0; i < samples.Count; i++)
            Assert.True(samples[i].Answer == answers[i], $"client {i}: expected {samples[i].Answer}, got {answers[i]}");
        Assert.Equal(16, answers.Distinct().Count());  // sixteen different questions, sixteen different answers

        var after = await server.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, after.GetProperty("in_flight").GetInt32());
        Assert.Equal(0, after.GetProperty("queued").GetInt64());
        Assert.Equal(16, after.GetProperty("completed").GetInt64() - before.GetProperty("completed").GetInt64());
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_its_generation()
    {
        var before = await server.HealthAsync();
        // 512 steps of one token each (a threshold of 1 commits one token a step): far longer than the test waits.
        var body = new
        {
            model = ServerFixture.ModelId, stream = true, max_tokens = 512, steps = 512, block_length = 512, threshold = 1.0,
            messages = new[] { new { role = "user", content = "x" } },
        };
        using var disconnect = new CancellationTokenSource();
        var request = server.Http.PostAsJsonAsync("/v1/chat/completions", body, disconnect.Token);
        await server.WaitUntilBusyAsync(1, TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        await disconnect.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);

        var after = await server.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, after.GetProperty("in_flight").GetInt32());
        Assert.Equal(1, after.GetProperty("cancelled").GetInt64() - before.GetProperty("cancelled").GetInt64());
        Assert.Equal(before.GetProperty("completed").GetInt64(), after.GetProperty("completed").GetInt64());
    }
}

public sealed class QueueTests(SingleSlotServerFixture server) : IClassFixture<SingleSlotServerFixture>
{
    [Fact]
    public async Task A_request_waits_for_the_slot_and_one_beyond_the_queue_gets_429_with_an_OpenAI_error()
    {
        var longBody = new
        {
            model = ServerFixture.ModelId, max_tokens = 512, steps = 512, block_length = 512, threshold = 1.0, prompt = "x",
        };
        using var cancel = new CancellationTokenSource();
        var first = server.Http.PostAsJsonAsync("/v1/completions", longBody, cancel.Token);
        await server.WaitUntilBusyAsync(1, TimeSpan.FromSeconds(30));

        var sample = Transform.Samples(1)[0];
        var queued = server.Http.PostAsJsonAsync("/v1/completions", new { model = ServerFixture.ModelId, prompt = sample.Prompt });
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await server.HealthAsync()).GetProperty("queued").GetInt64() < 1 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(queued.IsCompleted, "the second request was answered while the only slot was busy");

        using var refused = await server.Http.PostAsJsonAsync("/v1/completions", new { model = ServerFixture.ModelId, prompt = "y" });
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        var error = (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        Assert.Contains("busy", error.GetProperty("message").GetString());

        // Cancelling the first frees the slot for the waiting one, which gets its exact answer.
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        using var answered = await queued;
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        var text = (await answered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("choices")[0].GetProperty("text").GetString();
        Assert.Equal(sample.Answer, text);

        var health = await server.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, health.GetProperty("in_flight").GetInt32());
        Assert.Equal(1, health.GetProperty("rejected").GetInt64());
        Assert.Equal(1, health.GetProperty("cancelled").GetInt64());
    }
}
