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
    public void EveryBuiltInIsRegistered() =>
        Assert.Equal(
            new[] { "always-refresh", "d2cache", "depth-hybrid", "dkv-cache", "dllm-cache", "dpad", "elastic-cache", "fast-dllm-dual", "fast-dllm-prefix", "none", "prompt-cache", "vicinity" },
            PolicyKitPoliciesPolicyRegistry.Names);

    [Property]
    public Property EveryPolicyRefreshesEverythingAtStepZero() =>
        Prop.ForAll(Arb.From(StepContextGenerators.AtStepZero), context =>
            s_builtIns.All(policy => policy.Plan(in context) == (policy.Name == "dpad" ? s_dpadDrop : LayerPlan.RefreshAll) with { MeasureAttention = MeasuresAttention(policy) }));

    // The policies that rank rows by attention (or test its drift) measure it on every plan, the refreshes included.
    private static bool MeasuresAttention(ICachePolicy policy) => policy.Name is "elastic-cache" or "d2cache";

    private static readonly LayerPlan s_dpadDrop = LayerPlan.RefreshAll with { Window = 16, FarSuffix = SegmentAction.Drop };

    // Oracles of the second wave, written from each paper's rule (../shared/REFERENCE.md §3), not from the generator.

    [Property]
    public bool DkvCacheRecomputesMaskedAndJustDecodedRowsAndRefreshesEverythingEveryEightSteps(StepContext context)
    {
        var plan = Plan("dkv-cache", context);
        if (context.Step % 8 == 0 || context.IsBlockStart)
            return plan.IsRefreshAll;   // cache_steps = 8, and each block start
        // Settled rows and the prompt are reused; the rows the paper keeps out of the cache are recomputed.
        return plan == new LayerPlan(
            ReuseUnlessNever(context.StepsSincePromptRefresh),
            ReuseUnlessNever(context.StepsSinceResponsePrefixRefresh),
            ReuseUnlessNever(context.StepsSinceActiveBlockRefresh),
            ReuseUnlessNever(context.StepsSinceResponseSuffixRefresh)) with { Masked = s_refresh, JustDecoded = s_refresh }
            && plan.ActionOfResponseRow(Segment.ResponsePrefix, 3, RowStates.JustDecoded) == s_refresh
            && plan.ActionOfResponseRow(Segment.ResponseSuffix, 40, RowStates.Masked) == s_refresh;
    }

    [Property]
    public bool ElasticCacheTestsDriftAtEveryLayerAndRefreshesTheLayersAfterAFiredTest(StepContext context)
    {
        var plan = Plan("elastic-cache", context);
        if (!plan.MeasureAttention)
            return false;       // the most-attended row is measured at every layer and step
        if (context.IsBlockStart || context.TriggeredAtLayer is not null)
            return plan.IsRefreshAll && plan.Trigger is null;   // block start; depth-aware refresh of layers l+1..L
        // The window (active block) every step; prompt, decoded prefix and far masked suffix cached; the drift test (gamma 0.9).
        return plan == new LayerPlan(
            ReuseUnlessNever(context.StepsSincePromptRefresh),
            ReuseUnlessNever(context.StepsSinceResponsePrefixRefresh),
            s_refresh,
            ReuseUnlessNever(context.StepsSinceResponseSuffixRefresh)) with { Trigger = new DriftTest(0.9, Probe.Key), MeasureAttention = true };
    }

    [Property]
    public bool D2CacheSelectsMaskedRowsByCertaintyAndOtherRowsByAttention(StepContext context)
    {
        var plan = Plan("d2cache", context);
        if (!plan.MeasureAttention)
            return false;
        if (context.IsBlockStart)
            return plan.IsRefreshAll;
        var certainty = SegmentAction.AdaptiveRatio(0.25, Probe.CertaintyPrior);
        var attention = SegmentAction.AdaptiveRatio(0.1, Probe.AttentionReceived);
        SegmentAction Response(int counter) => counter == StepContext.NeverRefreshed ? s_refresh : attention;
        return plan.Prompt == ReuseUnlessNever(context.StepsSincePromptRefresh)
            && plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Masked) == certainty
            && plan.ActionOfResponseRow(Segment.ResponseSuffix, 30, RowStates.Masked) == certainty
            && plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.JustDecoded) == s_refresh
            && plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Settled) == Response(context.StepsSinceActiveBlockRefresh)
            && plan.ActionOfResponseRow(Segment.ResponsePrefix, 5, RowStates.Settled) == Response(context.StepsSinceResponsePrefixRefresh)
            && plan.Trigger is null;
    }

    [Property]
    public bool VicinityRecomputesTheBlockAndSixteenRowsEachSideAfterTwoWarmupSteps(StepContext context)
    {
        var plan = Plan("vicinity", context);
        if (context.StepInBlock < 2)
            return plan.IsRefreshAll;
        var farPrefix = ReuseUnlessNever(context.StepsSinceResponsePrefixRefresh);
        var farSuffix = ReuseUnlessNever(context.StepsSinceResponseSuffixRefresh);
        return plan.Prompt == ReuseUnlessNever(context.StepsSincePromptRefresh)
            && plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Masked) == s_refresh
            && plan.ActionOfResponseRow(Segment.ResponsePrefix, 16, RowStates.Settled) == s_refresh
            && plan.ActionOfResponseRow(Segment.ResponseSuffix, 1, RowStates.Masked) == s_refresh
            && plan.ActionOfResponseRow(Segment.ResponsePrefix, 17, RowStates.Settled) == farPrefix
            && plan.ActionOfResponseRow(Segment.ResponseSuffix, 17, RowStates.Masked) == farSuffix;
    }

    [Property]
    public bool DpadDropsTheSuffixBeyondSixteenAndRecomputesTheRestEveryStep(StepContext context)
    {
        var plan = Plan("dpad", context);
        return plan.ActionOfResponseRow(Segment.ResponseSuffix, 17, RowStates.Masked) == SegmentAction.Drop
            && plan.ActionOfResponseRow(Segment.ResponseSuffix, 16, RowStates.Masked) == s_refresh
            && plan.ActionOfResponseRow(Segment.ResponsePrefix, 40, RowStates.Settled) == s_refresh
            && plan.ActionOfResponseRow(Segment.ActiveBlock, 0, RowStates.Masked) == s_refresh
            && plan.Prompt == s_refresh;
    }

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
    public Property LayerRangedSecondWaveRulesApplyOnlyInsideTheirRanges() =>
        Prop.ForAll(Arb.From(Gen.Choose(6, 40).SelectMany(StepContextGenerators.ForLayerCount)), context =>
        {
            var plan = new RangedSecondWavePolicy().Plan(in context);
            if (context.Step == 0 || context.TriggeredAtLayer is not null)
                return plan.IsRefreshAll;   // a fired drift test refreshes every later layer
            bool shallow = context.Layer < 4, tail = context.Layer >= context.LayerCount - 2;
            return plan.Masked == (shallow ? s_refresh : null) && plan.JustDecoded == (shallow ? s_refresh : null)
                && plan.Vicinity == (tail ? s_refresh : null) && plan.Window == (tail ? 8 : 0)
                && plan.Trigger == (context.Layer >= 4 ? new DriftTest(0.8, Probe.Value) : null);
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
