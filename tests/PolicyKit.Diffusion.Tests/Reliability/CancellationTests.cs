using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>
/// A cancelled generation stops at the next step boundary with <see cref="OperationCanceledException"/>, frees
/// its cache session and every tensor it made, and leaves the shared model producing the same output as before.
/// </summary>
public class CancellationTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly SamplerOptions Options = new() { GenLength = 16, Steps = 16, BlockLength = 8 };

    public static TheoryData<string, int> PoliciesAndStops()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in PolicyKitPoliciesPolicyRegistry.Names)
            data.Add(name, name.Length % 3 == 0 ? 1 : name.Length % 3 == 1 ? 5 : 12); // mid-block and across a block boundary
        return data;
    }

    [Theory]
    [MemberData(nameof(PoliciesAndStops))]
    public void A_generation_cancelled_after_some_steps_stops_at_once_frees_its_session_and_leaves_the_model_usable(string policyName, int stopAfter)
    {
        var generator = fixture.Generator;
        var before = generator.Generate("the cat sat", Options, PolicyKitPoliciesPolicyRegistry.Create(policyName));
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        using var cts = new CancellationTokenSource();
        var policy = new CountingPolicy(PolicyKitPoliciesPolicyRegistry.Create(policyName));
        var steps = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(["the cat sat"], Options, policy, cts.Token, _ =>
        {
            if (++steps == stopAfter) cts.Cancel();
        }));

        // Promptly: no forward pass after the step that saw the cancellation (one plan per layer per step).
        Assert.Equal(stopAfter, steps);
        Assert.Equal(stopAfter * fixture.Model.Config.NumLayers, policy.Plans);
        // The session's caches and every per-step tensor are gone.
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        // The model is untouched: the same prompt gives the same tokens as before.
        var after = generator.Generate("the cat sat", Options, PolicyKitPoliciesPolicyRegistry.Create(policyName));
        Assert.Equal(before.TokenIds, after.TokenIds);
    }

    [Fact]
    public void An_already_cancelled_token_stops_the_generation_before_its_first_forward_pass()
    {
        var policy = new CountingPolicy(PolicyKitPoliciesPolicyRegistry.Create("dllm-cache"));
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.ThrowsAny<OperationCanceledException>(() => fixture.Generator.Generate("the cat", Options, policy, new CancellationToken(canceled: true)));
        Assert.Equal(0, policy.Plans);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void A_cancellation_from_another_thread_is_honoured_at_the_next_step()
    {
        // The usual shape in a service: the request's token is cancelled elsewhere while the generation runs.
        using var cts = new CancellationTokenSource();
        var policy = new CountingPolicy(PolicyKitPoliciesPolicyRegistry.Create("fast-dllm-dual"));
        var steps = 0;
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var options = Options with { Schedule = TransferSchedule.Threshold, Threshold = 0.99 };
        Assert.ThrowsAny<OperationCanceledException>(() => fixture.Generator.Generate(["a b c"], options, policy, cts.Token, _ =>
        {
            if (++steps == 3) Task.Run(cts.Cancel).Wait();
        }));
        Assert.Equal(3, steps);
        Assert.Equal(3 * fixture.Model.Config.NumLayers, policy.Plans);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
