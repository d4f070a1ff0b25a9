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
    public async Task Concurrent_streams_give_the_answers_of_sequential_requests()
    {
        using var provider = Hosts.Build(model.Directory, genLength: 16, steps: 8, blockLength: 8);
        var client = provider.GetRequiredService<IChatClient>();
        var requests = new[] { ("Hello", "none"), ("Hello", "dllm-cache"), ("policy kit", "fast-dllm-dual"), ("policy kit", "depth-hybrid") };
        var sequential = new List<string>();
        foreach (var (prompt, policy) in requests)
            sequential.Add((await client.GetResponseAsync(prompt, Hosts.Options(policy))).Text);
        var concurrent = await Task.WhenAll(requests.Select(async r => string.Concat((await Hosts.Stream(client, r.Item1, Hosts.Options(r.Item2))).Select(u => u.Text))));
        Assert.Equal(sequential, concurrent);
    }

    [Fact]
    public async Task A_dream_layout_model_streams_its_single_block()
    {
        var directory = Path.Combine(Path.GetTempPath(), "policykit-ai-dream-" + Guid.NewGuid().ToString("N"));
        PolicyKit.Diffusion.Checkpoints.RandomCheckpoint.Write(directory, PolicyKit.Diffusion.Checkpoints.Layout.Dream,
            new PolicyKit.Diffusion.Checkpoints.ModelSizes { HiddenSize = 32, Layers = 2, Heads = 2 }, seed: 4);
        try
        {
            using var provider = Hosts.Build(directory, genLength: 16, steps: 8, blockLength: 16);
            var client = provider.GetRequiredService<IChatClient>();
            var options = new ChatOptions { MaxOutputTokens = 12, AdditionalProperties = new() { [PolicyKitChatProperties.Policy] = "dllm-cache" } };
            var response = await client.GetResponseAsync("Hello", options);
            var updates = await Hosts.Stream(client, "Hello", options);
            Assert.Equal(response.Text, string.Concat(updates.Select(u => u.Text)));
            Assert.Equal(6, (int)response.AdditionalProperties![PolicyKitChatProperties.Steps]!);   // 8 steps for 16 tokens, scaled to 12
            // One block of exactly the asked length: every masked position is predicted at every step.
            Assert.All(updates.SkipLast(1), u => Assert.Matches("^[CP]{12}$", (string)u.AdditionalProperties![PolicyKitChatProperties.State]!));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Stopping_to_read_a_stream_stops_the_generation()
    {
        // 256 steps: far more than can run while the loop reads two updates and leaves.
        using var provider = Hosts.Build(model.Directory, genLength: 256, steps: 256, blockLength: 8);
        var client = provider.GetRequiredService<IChatClient>();
        // Steps run, counted on this container's PolicyKit meter.
        var meter = provider.GetRequiredService<PolicyKitMetrics>().Meter;
        long steps = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == PolicyKitTelemetry.Instruments.Steps) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref steps, value));
        listener.Start();

        int read = 0;
        await foreach (var update in client.GetStreamingResponseAsync("Hello"))
            if (++read == 2) break;
        Assert.Equal(2, read);
        // Leaving the loop waited for the generation to stop, well before its 256 steps.
        long ran = Interlocked.Read(ref steps);
        Assert.InRange(ran, 2, 255);
        await Task.Delay(200);
        Assert.Equal(ran, Interlocked.Read(ref steps));

        using var cancelled = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("Hello", cancellationToken: cancelled.Token))
                cancelled.Cancel();
        });
    }
}
