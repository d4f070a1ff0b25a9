using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PolicyKit.Generated;
using PolicyKit.Testing;

namespace PolicyKit.Policies.Tests;

/// <summary>FsCheck properties of the built-in policies over engine-consistent step contexts.</summary>
[Properties(Arbitrary = new[] { typeof(PolicyArbitraries) }, MaxTest = 300)]
public class BuiltInPolicyProperties
{
    private static readonly ICachePolicy[] s_builtIns = PolicyKitPoliciesPolicyRegistry.All.Select(d => d.Create()).ToArray();

    private static readonly SegmentAction s_reuse = SegmentAction.Reuse;
    private static readonly SegmentAction s_refresh = SegmentAction.Refresh;

    private static SegmentAction Interval(int counter, int every, SegmentAction between) => counter >= every ? s_refresh : between;

    private static SegmentAction ReuseUnlessNever(int counter) => counter == StepContext.NeverRefreshed ? s_refresh : s_reuse;

    [Fact]
    public void TheSevenBuiltInsAreRegistered() =>
        Assert.Equal(
            new[] { "always-refresh", "depth-hybrid", "dllm-cache", "fast-dllm-dual", "fast-dllm-prefix", "none", "prompt-cache" },
            PolicyKitPoliciesPolicyRegistry.Names);

    [Property]
    public Property EveryPolicyRefreshesEverythingAtStepZero() =>
        Prop.ForAll(Arb.From(StepContextGenerators.AtStepZero), context =>
            s_builtIns.All(policy => policy.Plan(in context) == LayerPlan.RefreshAll));

    [Property]
    public bool PlansAreDeterministic(StepContext context) =>
        s_builtIns.All(policy => policy.Plan(in context) == policy.Plan(in context) && policy.Plan(in context) == Copy(context, policy));

    [Property]
    public bool EveryBuiltInKeepsEveryInvariant(StepContext context) =>
        s_builtIns.All(policy => PolicyInvariants.FindViolation(policy, context) is null);

    [Property]
    public bool AdaptiveParametersStayInRange(StepContext context) =>
        s_builtIns.All(policy => PolicyInvariants.AdaptiveParametersInRange.FindViolation(policy, context) is null);

    [Property]
    public bool AlwaysRefreshNeverReuses(StepContext context) =>
        Plan("always-refresh", context).IsRefreshAll;

    [Property]
    public bool NoneUsesNoCacheAndRefreshesEverything(StepContext context) =>
        !Policy("none").UsesCache && Plan("none", context).IsRefreshAll && s_builtIns.Count(p => !p.UsesCache) == 1;

    [Property]
    public bool DllmCacheRefreshesExactlyWhenTheCounterReachesTheInterval(StepContext context)
    {
        var plan = Plan("dllm-cache", context);
        if (context.Step == 0 || context.Layer == 0)
            return plan.IsRefreshAll; // step 0 and [AlwaysRefreshLayers(0)]
        var verify = SegmentAction.AdaptiveRatio(0.25, Probe.Value);
        return plan == new LayerPlan(
            Interval(context.StepsSincePromptRefresh, 100, s_reuse),
            Interval(context.StepsSinceResponsePrefixRefresh, 7, verify),
            Interval(context.StepsSinceActiveBlockRefresh, 7, verify),
            Interval(context.StepsSinceResponseSuffixRefresh, 7, verify));
    }

    [Property]
    public bool PromptCacheRefreshesThePromptEveryHundredStepsAndTheResponseEveryStep(StepContext context)
    {
        var plan = Plan("prompt-cache", context);
        if (context.Step == 0)
            return plan.IsRefreshAll;
        return plan == LayerPlan.Split(Interval(context.StepsSincePromptRefresh, 100, s_reuse), s_refresh);
    }

    [Property]
    public bool DepthHybridAppliesEachRuleOnlyInsideItsLayerRange(StepContext context)
    {
        var plan = Plan("depth-hybrid", context);
        if (context.Step == 0)
            return plan.IsRefreshAll;
        var verify = SegmentAction.AdaptiveRatio(0.1, Probe.Value);
        SegmentAction Response(int counter) => context.Layer < 8
            ? Interval(counter, 4, s_reuse)          // "0..8": interval 4, reuse between
            : Interval(counter, StepContext.NeverRefreshed, verify); // "8..": adaptive every step
        return plan == new LayerPlan(
            Interval(context.StepsSincePromptRefresh, 50, s_reuse),
            Response(context.StepsSinceResponsePrefixRefresh),
            Response(context.StepsSinceActiveBlockRefresh),
            Response(context.StepsSinceResponseSuffixRefresh));
    }

    [Property]
    public bool FastDllmDualRecomputesOnlyTheActiveBlock(StepContext context)
    {
        var plan = Plan("fast-dllm-dual", context);
        if (context.IsBlockStart)
            return plan.IsRefreshAll;
        return plan == new LayerPlan(
            ReuseUnlessNever(context.StepsSincePromptRefresh),
            ReuseUnlessNever(context.StepsSinceResponsePrefixRefresh),
            s_refresh,
            ReuseUnlessNever(context.StepsSinceResponseSuffixRefresh));
    }

    [Property]
    public bool FastDllmPrefixRecomputesTheActiveBlockAndTheSuffix(StepContext context)
    {
        var plan = Plan("fast-dllm-prefix", context);
        if (context.IsBlockStart)
            return plan.IsRefreshAll;
        return plan == new LayerPlan(
            ReuseUnlessNever(context.StepsSincePromptRefresh),
            ReuseUnlessNever(context.StepsSinceResponsePrefixRefresh),
            s_refresh,
            s_refresh);
    }

    [Property]
    public Property RangesCountedFromTheEndFollowTheLayerCount() =>
        Prop.ForAll(Arb.From(Gen.Choose(5, 40).SelectMany(StepContextGenerators.ForLayerCount)), context =>
        {
            var plan = new TailPolicy().Plan(in context);
            if (context.Step == 0)
                return plan.IsRefreshAll;
            int tail = context.LayerCount - 4;
            var between = context.Layer >= 2 && context.Layer < tail ? SegmentAction.AdaptiveThreshold(0.5, Probe.Input) : s_reuse;
            int responseEvery = context.Layer >= tail ? 3 : StepContext.NeverRefreshed;
            return plan == new LayerPlan(
                Interval(context.StepsSincePromptRefresh, context.Layer < tail ? 2 : StepContext.NeverRefreshed, s_reuse),
                Interval(context.StepsSinceResponsePrefixRefresh, responseEvery, between),
                Interval(context.StepsSinceActiveBlockRefresh, responseEvery, between),
                Interval(context.StepsSinceResponseSuffixRefresh, responseEvery, between));
        });

    [Property]
    public bool AdjustPlanRunsAfterTheRules(StepContext context)
    {
        var plan = new AdjustedPolicy().Plan(in context);
        if (context.Step == 0)
            return plan.IsRefreshAll;
        var expectedPrompt = context.Layer == context.LayerCount - 1 ? s_refresh : ReuseUnlessNever(context.StepsSincePromptRefresh);
        return plan.Prompt == expectedPrompt && plan.ActiveBlock == Interval(context.StepsSinceActiveBlockRefresh, 5, s_reuse);
    }

    private static ICachePolicy Policy(string name) => s_builtIns.Single(p => p.Name == name);

    private static LayerPlan Plan(string name, StepContext context) => Policy(name).Plan(in context);

    // A fresh instance from the registry gives the same plan as the shared one: no instance state leaks into plans.
    private static LayerPlan Copy(StepContext context, ICachePolicy policy) =>
        PolicyKitPoliciesPolicyRegistry.Create(policy.Name).Plan(in context);
}
