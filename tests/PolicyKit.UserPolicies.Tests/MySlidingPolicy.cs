using PolicyKit;

namespace MyApp.Policies;

/// <summary>
/// A user's own policy: prompt every 64 steps; response every 6 steps in all but the last four layers, where a
/// K-probe threshold test recomputes only tokens that changed; full refresh at each block start. Hand-written
/// rule the attributes cannot say: short responses (under 64 tokens) skip the adaptive pass and are recomputed.
/// </summary>
[CachePolicy("my-sliding", Description = "Sample user policy")]
[PromptRefresh(Every = 64)]
[ResponseRefresh(Every = 6, Layers = "..^4")]
[AdaptiveResponse(Threshold = 0.95, Probe = Probe.Key, Layers = "^4..")]
[RefreshAllOnBlockStart]
public sealed partial class MySlidingPolicy
{
    public const int ShortResponse = 64;

    partial void AdjustPlan(in StepContext context, ref LayerPlan plan)
    {
        if (context.ResponseLength < ShortResponse && plan.ActiveBlock.Kind == ActionKind.Adaptive)
            plan = LayerPlan.Split(plan.Prompt, SegmentAction.Refresh);
    }
}
