using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Hosting;

namespace PolicyKit.AI.Tests;

/// <summary>
/// The streaming contract on a random model, where the tokens are arbitrary (bytes that are not valid UTF-8 on their
/// own, padding ids with no text, end-of-sequence anywhere): the streamed text equals the non-streamed answer, which
/// is the same engine computation, under every built-in policy. No test here asserts which tokens come out.
/// </summary>
public sealed class RandomModelChatTests(TinyModel model) : IClassFixture<TinyModel>
{
    public static TheoryData<string> Policies => new(Hosts.BuiltInPolicies);

    [Theory]
    [MemberData(nameof(Policies))]
    public async Task Streamed_text_equals_the_non_streamed_answer(string policy)
    {
        using var provider = Hosts.Build(model.Directory, genLength: 16, steps: 8, blockLength: 8);
        var client = provider.GetRequiredService<IChatClient>();
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        foreach (var options in new[]
        {
            Hosts.Options(policy),
            Hosts.Options(policy, (PolicyKitChatProperties.Threshold, 0.5)),
            new ChatOptions { MaxOutputTokens = 11, Temperature = 0.7f, Seed = 5, AdditionalProperties = new() { [PolicyKitChatProperties.Policy] = policy } },
        })
        {
            var response = await client.GetResponseAsync("Hello there", options);
            var updates = await Hosts.Stream(client, "Hello there", options);
            Assert.Equal(response.Text, string.Concat(updates.Select(u => u.Text)));
            Assert.Equal(response.FinishReason, updates[^1].FinishReason);
            Assert.Equal(response.Usage!.OutputTokenCount, updates[^1].Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);
            Assert.InRange(response.Usage.OutputTokenCount!.Value, 0, options.MaxOutputTokens ?? 16);
            Assert.Equal((int)response.AdditionalProperties![PolicyKitChatProperties.Steps]! + 1, updates.Count);
            // Microsoft.Extensions.AI's own aggregation of the updates gives the same response.
            var aggregated = updates.ToChatResponse();
            Assert.Equal(response.Text, aggregated.Text);
            Assert.Single(aggregated.Messages);
            Assert.Equal(response.FinishReason, aggregated.FinishReason);
            Assert.Equal(response.Usage.OutputTokenCount, aggregated.Usage!.OutputTokenCount);
            Assert.Equal(response.Usage.InputTokenCount, aggregated.Usage.InputTokenCount);
        }

        // Without a cut the text is the engine's own decoding of the same tokens.
        var plain = await client.GetResponseAsync("Hello there", Hosts.Options(policy));
        var engine = await generator.GenerateAsync("Hello there", policy);
        Assert.Equal(engine.Text, plain.Text);
    }

    [Fact]
    public async Task A_stop_sequence_taken_from_the_answer_ends_both_paths_there()
    {
        using var provider = Hosts.Build(model.Directory, genLength: 16, steps: 8, blockLength: 8);
        var client = provider.GetRequiredService<IChatClient>();
        var full = await client.GetResponseAsync("The quick brown fox", Hosts.Options("none"));
        Assert.True(full.Text.Length >= 3, $"the random model's answer is too short for this test: '{full.Text}'");
        // The exact path (no cache) gives the same tokens again, so a piece of its answer is found again.
        var stop = full.Text.Substring(full.Text.Length / 2, 2);
        var options = new ChatOptions { StopSequences = [stop], AdditionalProperties = new() { [PolicyKitChatProperties.Policy] = "none" } };
        var stopped = await client.GetResponseAsync("The quick brown fox", options);
        var streamed = string.Concat((await Hosts.Stream(client, "The quick brown fox", options)).Select(u => u.Text));
        Assert.Equal(full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(stopped.Text, streamed);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.True(stopped.Usage!.OutputTokenCount < full.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Stopping_to_read_a_stream_stops_the_generation()
    {
        using var provider = Hosts.Build(model.Directory, genLength: 64, steps: 64, blockLength: 8);
        var client = provider.GetRequiredService<IChatClient>();
        int read = 0;
        await foreach (var update in client.GetStreamingResponseAsync("Hello"))
            if (++read == 2) break;
        Assert.Equal(2, read);

        using var cancelled = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("Hello", cancellationToken: cancelled.Token))
                cancelled.Cancel();
        });
    }
}
