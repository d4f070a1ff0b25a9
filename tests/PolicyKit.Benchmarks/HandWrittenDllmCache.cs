using PolicyKit;

namespace PolicyKit.Benchmarks;

/// <summary>dllm-cache written by hand against ICachePolicy, constants inlined: the fastest a person would write it.</summary>
public sealed class HandWrittenDllmCache : ICachePolicy
{
    private static readonly SegmentAction s_verify = SegmentAction.AdaptiveRatio(0.25, Probe.Value);

    public string Name => "dllm-cache (hand-written)";

    public bool UsesCache => true;

    public IReadOnlyList<PolicyParameter> Parameters { get; } = [];

    public LayerPlan Plan(in StepContext context)
    {
        if (context.Step == 0 || context.Layer == 0)
            return LayerPlan.RefreshAll;
        return new LayerPlan(
            context.StepsSincePromptRefresh >= 100 ? SegmentAction.Refresh : SegmentAction.Reuse,
            context.StepsSinceResponsePrefixRefresh >= 7 ? SegmentAction.Refresh : s_verify,
            context.StepsSinceActiveBlockRefresh >= 7 ? SegmentAction.Refresh : s_verify,
            context.StepsSinceResponseSuffixRefresh >= 7 ? SegmentAction.Refresh : s_verify);
    }
}
