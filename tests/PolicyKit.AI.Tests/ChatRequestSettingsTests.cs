using System.Text.Json;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.AI.Tests;

public sealed class ChatRequestSettingsTests
{
    private static readonly SamplerOptions Defaults = SamplerOptions.Llada with { GenLength = 64, Steps = 64, BlockLength = 32, EosTokenId = 1 };

    private static ChatRequestSettings From(ChatOptions? options) => ChatRequestSettings.From(options, Defaults, Layout.LLaDA);

    private static ChatOptions With(string key, object? value) => new() { AdditionalProperties = new() { [key] = value } };

    [Fact]
    public void No_options_keep_the_host_defaults()
    {
        var settings = From(null);
        Assert.Equal(Defaults, settings.Sampler);
        Assert.Null(settings.Policy);
        Assert.Equal(64, settings.ResponseLength);
        Assert.Empty(settings.StopSequences);
    }

    [Fact]
    public void Max_output_tokens_round_the_gen_length_up_to_whole_blocks_and_scale_the_steps()
    {
        var settings = From(new ChatOptions { MaxOutputTokens = 40 });
        Assert.Equal(40, settings.ResponseLength);
        Assert.Equal(64, settings.Sampler.GenLength);
        Assert.Equal(64, settings.Sampler.Steps);

        var small = From(new ChatOptions { MaxOutputTokens = 70, AdditionalProperties = new() { [PolicyKitChatProperties.BlockLength] = 16 } });
        Assert.Equal(80, small.Sampler.GenLength);
        Assert.Equal(16, small.Sampler.BlockLength);
        Assert.Equal(80, small.Sampler.Steps);   // one step a token, as the host's 64/64
        Assert.Equal(0, small.Sampler.Steps % small.Sampler.BlockCount);
    }

    [Fact]
    public void Dream_models_generate_exactly_the_asked_length_in_one_block()
    {
        var dream = SamplerOptions.Dream(64, 32) with { EosTokenId = 1 };
        var settings = ChatRequestSettings.From(new ChatOptions { MaxOutputTokens = 10 }, dream, Layout.Dream);
        Assert.Equal(10, settings.Sampler.GenLength);
        Assert.Equal(10, settings.Sampler.BlockLength);
        Assert.Equal(5, settings.Sampler.Steps);
        var error = Assert.Throws<ArgumentException>(() => ChatRequestSettings.From(With(PolicyKitChatProperties.BlockLength, 8), dream, Layout.Dream));
        Assert.Contains("policykit.block_length", error.Message);
    }

    [Fact]
    public void Chat_options_and_policykit_properties_map_to_the_sampler()
    {
        var options = new ChatOptions
        {
            Temperature = 0.5f,
            Seed = 42,
            StopSequences = ["\n\n"],
            AdditionalProperties = new()
            {
                [PolicyKitChatProperties.Policy] = "fast-dllm-dual",
                [PolicyKitChatProperties.Steps] = "32",                                   // strings, as a form would send them
                [PolicyKitChatProperties.Threshold] = JsonDocument.Parse("0.8").RootElement, // JSON, as a server receives them
            },
        };
        var settings = From(options);
        Assert.Equal("fast-dllm-dual", settings.Policy);
        Assert.Equal(0.5, settings.Sampler.Temperature, 6);
        Assert.Equal(42, settings.Sampler.Seed);
        Assert.Equal(32, settings.Sampler.Steps);
        Assert.Equal(TransferSchedule.Threshold, settings.Sampler.Schedule);
        Assert.Equal(0.8, settings.Sampler.Threshold);
        Assert.Equal(["\n\n"], settings.StopSequences);
    }

    [Theory]
    [InlineData("policykit.steps", "many", "policykit.steps\"]: expected a positive integer, got \"many\"")]
    [InlineData("policykit.steps", 0, "expected a positive integer, got 0")]
    [InlineData("policykit.steps", 7, "policykit.steps\"]: 7 steps do not divide evenly over 2 blocks")]
    [InlineData("policykit.block_length", -8, "policykit.block_length\"]: expected a positive integer, got -8")]
    [InlineData("policykit.threshold", 1.5, "policykit.threshold\"]: expected a number in (0, 1], got 1.5")]
    [InlineData("policykit.policy", 3, "policykit.policy\"]: expected a policy name (string), got 3")]
    [InlineData("policykit.stepz", 3, "\"policykit.stepz\"] is not a PolicyKit setting. Known: policykit.policy, policykit.steps")]
    public void Bad_values_fail_naming_the_option(string key, object value, string expected)
    {
        var options = With(key, value);
        var error = Assert.Throws<ArgumentException>(() => From(options));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Bad_chat_options_fail_naming_the_option()
    {
        Assert.Contains("ChatOptions.MaxOutputTokens must be positive", Assert.Throws<ArgumentException>(() => From(new ChatOptions { MaxOutputTokens = 0 })).Message);
        Assert.Contains("ChatOptions.Temperature", Assert.Throws<ArgumentException>(() => From(new ChatOptions { Temperature = -1 })).Message);
        Assert.Contains("ChatOptions.StopSequences[1] is empty", Assert.Throws<ArgumentException>(() => From(new ChatOptions { StopSequences = ["x", ""] })).Message);
    }
}
