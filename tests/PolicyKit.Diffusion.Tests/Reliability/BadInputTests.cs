using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>
/// Bad run-time input is refused with an <see cref="ArgumentException"/> that names the setting, before any
/// work starts: no forward pass (a counting policy sees no plan), no step reported, no tensor left alive.
/// </summary>
public class BadInputTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly SamplerOptions Good = new() { GenLength = 16, Steps = 16, BlockLength = 8 };

    public static TheoryData<string, string, SamplerOptions> BadOptions => new()
    {
        { "gen length zero", "gen-length", Good with { GenLength = 0 } },
        { "gen length negative", "gen-length", Good with { GenLength = -8 } },
        { "gen length not a multiple of the block length", "block-length", Good with { GenLength = 12 } },
        { "block length zero", "block-length", Good with { BlockLength = 0 } },
        { "steps not dividing over the blocks", "steps", Good with { Steps = 5 } },
        { "steps zero", "steps", Good with { Steps = 0 } },
        { "Dream schedule with blocks", "block-length", Good with { Schedule = TransferSchedule.DreamTimeGrid } },
        { "temperature below zero", "temperature", Good with { Temperature = -0.1 } },
        { "temperature NaN", "temperature", Good with { Temperature = double.NaN } },
        { "temperature infinite", "temperature", Good with { Temperature = double.PositiveInfinity } },
        { "threshold zero", "threshold", Good with { Schedule = TransferSchedule.Threshold, Threshold = 0 } },
        { "threshold above one", "threshold", Good with { Schedule = TransferSchedule.Threshold, Threshold = 1.5 } },
        { "threshold negative", "threshold", Good with { Threshold = -0.5 } },
        { "threshold NaN", "threshold", Good with { Threshold = double.NaN } },
        { "cfg negative", "cfg", Good with { CfgScale = -1 } },
        { "forbid EOS without an EOS id", "forbid-eos", Good with { ForbidEos = true, EosTokenId = null } },
        { "gen length beyond the model's maximum", "gen length", Good with { GenLength = 512, BlockLength = 512, Steps = 512 } },
    };

    /// <summary>Runs <paramref name="act"/> with a counting policy and checks nothing ran.</summary>
    private static ArgumentException RefusedBeforeAnyWork(Action<CountingPolicy, Action<SamplerStepReport>> act)
    {
        var policy = new CountingPolicy(PolicyKitPoliciesPolicyRegistry.Create("always-refresh"));
        var steps = 0;
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var e = Assert.ThrowsAny<ArgumentException>(() => act(policy, _ => steps++));
        Assert.Equal(0, policy.Plans);
        Assert.Equal(0, steps);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        return e;
    }

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void A_bad_sampler_setting_is_refused_naming_the_setting_before_any_forward_pass(string why, string setting, SamplerOptions options)
    {
        var e = RefusedBeforeAnyWork((policy, onStep) => fixture.Generator.Generate(["a prompt"], options, policy, default, onStep));
        Assert.True(e.Message.Contains(setting, StringComparison.Ordinal), $"{why}: '{e.Message}' does not name {setting}");
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public void An_empty_or_null_prompt_is_refused_before_any_forward_pass(string? prompt)
    {
        var e = RefusedBeforeAnyWork((policy, onStep) => fixture.Generator.Generate([prompt!], Good, policy, default, onStep));
        Assert.Equal("prompt", e.ParamName);
    }

    [Fact]
    public void A_prompt_longer_than_the_model_allows_is_refused_with_both_lengths_before_any_forward_pass()
    {
        var prompt = string.Concat(Enumerable.Repeat("word ", 300)); // the tiny model allows 256 positions
        var e = RefusedBeforeAnyWork((policy, onStep) => fixture.Generator.Generate([prompt], Good, policy, default, onStep));
        Assert.Contains("maximum sequence length 256", e.Message);
        Assert.Contains("gen length (16)", e.Message);
    }

    [Fact]
    public void An_empty_prompt_list_is_refused_as_an_argument_error()
    {
        var e = RefusedBeforeAnyWork((policy, onStep) => fixture.Generator.Generate(Array.Empty<string>(), Good, policy, default, onStep));
        Assert.Equal("prompts", e.ParamName);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    [InlineData(0)] // replaced by the vocabulary size: one past the last row of the embedding
    public void A_prompt_token_id_outside_the_vocabulary_is_refused_before_it_reaches_the_embedding(int id)
    {
        if (id == 0) id = fixture.Model.Config.VocabSize;
        var e = RefusedBeforeAnyWork((policy, onStep) => fixture.Generator.GenerateIds([[1, 2, id]], Good, policy, default, onStep));
        Assert.Equal("prompts", e.ParamName);
        Assert.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void An_unknown_policy_name_is_refused_naming_it_and_listing_the_known_ones()
    {
        var catalog = PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance);
        var e = Assert.Throws<KeyNotFoundException>(() => catalog.Create("dllm-cahce"));
        Assert.Contains("'dllm-cahce'", e.Message);
        Assert.Contains("dllm-cache", e.Message);
    }

    [Fact]
    public void A_policy_override_out_of_range_is_refused_naming_the_parameter()
    {
        var name = PolicyKitPoliciesPolicyRegistry.All.Single(d => d.Name == "dllm-cache").Parameters.First(p => p.CanOverride).Name;
        var e = Assert.ThrowsAny<ArgumentException>(() =>
            PolicyKitPoliciesPolicyRegistry.Create("dllm-cache", new Dictionary<string, string> { [name] = "-3" }));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void The_good_settings_used_above_do_generate()
    {
        // Guards the tests above: they fail for the bad setting, not for something else in Good.
        var policy = new CountingPolicy(PolicyKitPoliciesPolicyRegistry.Create("always-refresh"));
        var result = fixture.Generator.Generate("a prompt", Good, policy);
        Assert.Equal(16, result.TokenIds.Count);
        Assert.True(policy.Plans > 0);
    }
}
