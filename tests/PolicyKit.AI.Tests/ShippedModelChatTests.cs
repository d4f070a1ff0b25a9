using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Tasks;

namespace PolicyKit.AI.Tests;

/// <summary>
/// The chat client on the shipped model, which answers transform prompts exactly (models/README.md): for every
/// built-in policy the streamed text, the non-streamed answer and the task's expected answer agree. That holds on any
/// CPU because the model is sure of every token of this task, not by a float near-tie.
/// </summary>
public sealed class ShippedModelChatTests : IDisposable
{
    private static readonly TransformTask Task = new();
    private static readonly TaskSample Sample = TaskSuite.TestSet(Task, 1)[0];
    private readonly ServiceProvider _provider;
    private readonly IChatClient _client;

    public ShippedModelChatTests()
    {
        _provider = Hosts.Build(Hosts.ShippedModel, Task.GenLength, Task.GenLength, Task.BlockLength);
        _client = _provider.GetRequiredService<IChatClient>();
    }

    public static TheoryData<string> Policies => new(Hosts.BuiltInPolicies);

    [Theory]
    [MemberData(nameof(Policies))]
    public async System.Threading.Tasks.Task Streamed_text_equals_the_answer_and_the_expected_one(string policy)
    {
        var options = Hosts.Options(policy);
        var response = await _client.GetResponseAsync(Sample.Prompt, options);
        var updates = await Hosts.Stream(_client, Sample.Prompt, options);
        var streamed = string.Concat(updates.Select(u => u.Text));

        Assert.Equal(Sample.Answer, response.Text);
        Assert.Equal(response.Text, streamed);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason); // the answer fills the 32 positions, no end-of-sequence
        Assert.Equal(Sample.Prompt.Length, response.Usage!.InputTokenCount); // one token per character (ShippedTokenizerTests)
        Assert.Equal(Task.GenLength, response.Usage.OutputTokenCount);
        Assert.Equal(policy, response.AdditionalProperties![PolicyKitChatProperties.Policy]);

        // One update per step, then the last one with the finish reason and usage.
        int steps = (int)response.AdditionalProperties[PolicyKitChatProperties.Steps]!;
        Assert.Equal(steps + 1, updates.Count);
        var last = updates[^1];
        Assert.Equal(ChatFinishReason.Length, last.FinishReason);
        var usage = Assert.Single(last.Contents.OfType<UsageContent>());
        Assert.Equal(response.Usage.OutputTokenCount, usage.Details.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount, usage.Details.InputTokenCount);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public async System.Threading.Tasks.Task Each_step_emits_exactly_the_committed_prefix_and_describes_the_rest(string policy)
    {
        var updates = await Hosts.Stream(_client, Sample.Prompt, Hosts.Options(policy));
        var text = "";
        int previousCommitted = 0;
        foreach (var update in updates.SkipLast(1))
        {
            text += update.Text;
            var state = (string)update.AdditionalProperties![PolicyKitChatProperties.State]!;
            var committed = (int)update.AdditionalProperties[PolicyKitChatProperties.Committed]!;
            var provisional = (string)update.AdditionalProperties[PolicyKitChatProperties.Provisional]!;
            Assert.Equal(Task.GenLength, state.Length);
            Assert.Equal(state.Count(c => c == 'C'), committed);
            Assert.True(committed > previousCommitted, "every step commits at least one token");
            previousCommitted = committed;

            // One character per token here, so the text is exactly the leading run of committed positions.
            int prefix = state.TakeWhile(c => c == 'C').Count();
            Assert.Equal(Sample.Answer[..prefix], text);
            // The tentative rest: everything after the prefix up to the first position with no prediction.
            int shown = state.Skip(prefix).TakeWhile(c => c != 'M').Count();
            if (shown == 0) Assert.Equal("", provisional);
            Assert.Matches("^[CMP]*$", state);
            Assert.DoesNotContain('P', state[..prefix]);
        }
        Assert.Equal(Sample.Answer, text + updates[^1].Text);
        // The first step leaves the active block predicted but mostly masked: there is a tentative continuation.
        Assert.NotEqual("", updates[0].AdditionalProperties![PolicyKitChatProperties.Provisional]);
        Assert.Equal(new string('C', Task.GenLength), updates[^2].AdditionalProperties![PolicyKitChatProperties.State]);
    }

    [Fact]
    public async System.Threading.Tasks.Task Threshold_decoding_through_the_options_answers_in_fewer_steps()
    {
        var options = Hosts.Options("dllm-cache", (PolicyKitChatProperties.Threshold, 0.9));
        var response = await _client.GetResponseAsync(Sample.Prompt, options);
        var streamed = string.Concat((await Hosts.Stream(_client, Sample.Prompt, options)).Select(u => u.Text));
        Assert.Equal(Sample.Answer, response.Text);
        Assert.Equal(Sample.Answer, streamed);
        Assert.True((int)response.AdditionalProperties![PolicyKitChatProperties.Steps]! < Task.GenLength);
    }

    [Fact]
    public async System.Threading.Tasks.Task Max_output_tokens_and_stop_sequences_cut_the_answer()
    {
        // 20 tokens: the engine still decodes two blocks of 16 (the same computation), the caller sees 20.
        var cut = await _client.GetResponseAsync(Sample.Prompt, new ChatOptions { MaxOutputTokens = 20 });
        Assert.Equal(Sample.Answer[..20], cut.Text);
        Assert.Equal(ChatFinishReason.Length, cut.FinishReason);
        Assert.Equal(20, cut.Usage!.OutputTokenCount);

        // A stop sequence from the middle of the expected answer: the text ends before it.
        var stop = Sample.Answer.Substring(9, 3);
        int at = Sample.Answer.IndexOf(stop, StringComparison.Ordinal);
        var options = new ChatOptions { StopSequences = [stop] };
        var stopped = await _client.GetResponseAsync(Sample.Prompt, options);
        var streamed = string.Concat((await Hosts.Stream(_client, Sample.Prompt, options)).Select(u => u.Text));
        Assert.Equal(Sample.Answer[..at], stopped.Text);
        Assert.Equal(stopped.Text, streamed);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(at, stopped.Usage!.OutputTokenCount);
    }

    public void Dispose() => _provider.Dispose();
}
