using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Generated;
using PolicyKit.Testing;

namespace PolicyKit.Policies.Tests;

public class PolicyRuntimeTests
{
    [Fact]
    public void GeneratedPlanAllocatesNothing()
    {
        // Every built-in (the second wave's override slots, Drop, drift tests and attention measures included) and the
        // test policies, d2cache's score ranking twice; a power of two.
        ICachePolicy[] policies = [.. PolicyKitPoliciesPolicyRegistry.All.Select(d => d.Create()), new TailPolicy(), new AdjustedPolicy(),
            new RangedSecondWavePolicy(), new D2Cache()];
        Assert.Equal(16, policies.Length);
        var contexts = StepContextGenerators.Any.Sample(256, 64).ToArray();
        int sink = 0;
        foreach (var policy in policies) // warm-up: JIT every path before measuring
        {
            for (int i = 0; i < 20_000; i++)
                sink += (int)policy.Plan(in contexts[i % contexts.Length]).ActiveBlock.Kind;
        }

        const int Calls = 1_000_000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Calls; i++)
        {
            var plan = policies[i & 15].Plan(in contexts[i % contexts.Length]);
            sink += (int)plan.ResponseSuffix.Kind + plan.Window + (int)(plan.FarSuffix?.Kind ?? 0) + (int)(plan.Masked?.Kind ?? 0)
                + (plan.Trigger is { } trigger ? (int)trigger.Probe : 0) + (plan.MeasuresAttention ? 1 : 0);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(sink > 0);
    }

    [Fact]
    public void OverridesReplaceDefaultsWithoutRecompiling()
    {
        var policy = DllmCache.Create(new Dictionary<string, string> { ["ResponseRefresh.Every"] = "3", ["adaptiveresponse.ratio"] = "0.5" });
        var context = new StepContext { Step = 10, Layer = 1, LayerCount = 4, StepInBlock = 3, StepsSincePromptRefresh = 3,
            StepsSinceResponsePrefixRefresh = 3, StepsSinceActiveBlockRefresh = 2, StepsSinceResponseSuffixRefresh = 1 };

        var plan = policy.Plan(in context);

        Assert.Equal(SegmentAction.Reuse, plan.Prompt);
        Assert.Equal(SegmentAction.Refresh, plan.ResponsePrefix);
        Assert.Equal(SegmentAction.AdaptiveRatio(0.5), plan.ActiveBlock);
        Assert.Contains(policy.Parameters, p => p is { Name: "ResponseRefresh.Every", Value: "3", CanOverride: true });
        Assert.Contains(DllmCache.DefaultParameters, p => p is { Name: "ResponseRefresh.Every", Value: "7" });
        Assert.Equal(SegmentAction.AdaptiveRatio(0.25), new DllmCache().Plan(in context).ActiveBlock);
    }

    [Theory]
    [InlineData("ResponseRefresh.Every", "0", "PK0002")]
    [InlineData("PromptRefresh.Every", "ten", "PK0002")]
    [InlineData("AdaptiveResponse.Ratio", "1.5", "PK0003")]
    [InlineData("AdaptiveResponse.Probe", "Query", "Value, Key, Input")]
    [InlineData("AlwaysRefreshLayers", "1", "no overridable parameter")]
    [InlineData("ResponseRefresh.Evry", "3", "no overridable parameter")]
    public void InvalidOverridesAreRejectedLikeTheDiagnostics(string name, string value, string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => PolicyKitPoliciesPolicyRegistry.Create("dllm-cache", new Dictionary<string, string> { [name] = value }));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ThresholdOverridesOfRangedRulesUseTheirRangedNames()
    {
        var policy = TailPolicy.Create(new Dictionary<string, string> { ["AdaptiveResponse[2..^4].Threshold"] = "-0.25" });
        var context = new StepContext { Step = 5, Layer = 3, LayerCount = 12, StepInBlock = 2, StepsSincePromptRefresh = 1,
            StepsSinceResponsePrefixRefresh = 1, StepsSinceActiveBlockRefresh = 1, StepsSinceResponseSuffixRefresh = 1 };
        Assert.Equal(SegmentAction.AdaptiveThreshold(-0.25, Probe.Input), policy.Plan(in context).ResponsePrefix);
        Assert.Throws<ArgumentException>(() => TailPolicy.Create(new Dictionary<string, string> { ["AdaptiveResponse[2..^4].Threshold"] = "2" }));
    }

    [Fact]
    public void ComparesInputFollowsTheRulesProbesAsTheInstanceHoldsThem()
    {
        // No built-in policy compares the layer input: the engine keeps no input cache for any of them.
        foreach (var descriptor in PolicyCatalog.FromAssemblies(typeof(DllmCache).Assembly))
            Assert.False(descriptor.Create(null).ComparesInput, descriptor.Name);
        // A probe is overridable, so the answer is the instance's.
        Assert.True(PolicyKitPoliciesPolicyRegistry.Create("dllm-cache", new Dictionary<string, string> { ["AdaptiveResponse.Probe"] = "Input" }).ComparesInput);
        Assert.False(PolicyKitPoliciesPolicyRegistry.Create("dllm-cache", new Dictionary<string, string> { ["AdaptiveResponse.Probe"] = "Key" }).ComparesInput);
        Assert.True(new TailPolicy().ComparesInput);       // [AdaptiveResponse(Probe = Probe.Input)] on some layers
        Assert.True(new AdjustedPolicy().ComparesInput);   // its AdjustPlan may return any plan
    }

    [Fact]
    public void CatalogCombinesTheRegistriesOfSeveralAssemblies()
    {
        var catalog = PolicyCatalog.FromAssemblies(typeof(DllmCache).Assembly, typeof(TailPolicy).Assembly);

        Assert.Equal(15, catalog.Count);   // 12 built-in, 3 test policies
        Assert.IsType<DllmCache>(catalog.Create("dllm-cache"));
        Assert.IsType<TailPolicy>(catalog.Create("test-tail"));
        Assert.Throws<KeyNotFoundException>(() => catalog.Get("no-such-policy"));
        var duplicate = Assert.Throws<ArgumentException>(() => PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance, PolicyKitPoliciesPolicyRegistry.Instance));
        Assert.Contains("Two policies are named 'always-refresh'", duplicate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DependencyInjectionRegistersKeyedSingletonsWithTryAddSemantics()
    {
        var tuned = DllmCache.Create(new Dictionary<string, string> { ["ResponseRefresh.Every"] = "5" });
        var services = new ServiceCollection();
        services.AddKeyedSingleton<ICachePolicy>("dllm-cache", tuned); // a host override registered first wins
        services.AddPolicyKitPoliciesCachePolicies();
        services.AddPolicyKitPoliciesCachePolicies(); // idempotent
        using var provider = services.BuildServiceProvider();

        Assert.Same(tuned, provider.GetRequiredKeyedService<ICachePolicy>("dllm-cache"));
        Assert.IsType<FastDllmDualCache>(provider.GetRequiredKeyedService<ICachePolicy>("fast-dllm-dual"));
        Assert.Same(provider.GetRequiredKeyedService<ICachePolicy>("none"), provider.GetRequiredKeyedService<ICachePolicy>("none"));
        Assert.Equal(PolicyKitPoliciesPolicyRegistry.All.Count, services.Count);
    }

    [Fact]
    public void InvariantCheckPassesForEveryBuiltIn()
    {
        foreach (var descriptor in PolicyKitPoliciesPolicyRegistry.All)
            PolicyInvariants.Check(descriptor.Create(), maxTests: 500);
    }

    [Fact]
    public void InvariantCheckReportsACounterexampleForABrokenPolicy()
    {
        var failure = Assert.Throws<PolicyInvariantException>(() => PolicyInvariants.Check(new ForgetfulPolicy()));
        Assert.Contains("forgetful", failure.Message);
        // It names the broken invariant (which one FsCheck hits first is random) and prints the counterexample context.
        Assert.Matches("refreshes everything at step 0|refreshes segments that were never cached", failure.Message);
        Assert.Contains("since-refresh", failure.Message);
    }
}
