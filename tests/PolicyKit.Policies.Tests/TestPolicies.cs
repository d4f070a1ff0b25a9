namespace PolicyKit.Policies.Tests;

/// <summary>Ranges counted from the end: resolved against StepContext.LayerCount at run time.</summary>
[CachePolicy("test-tail")]
[PromptRefresh(Every = 2, Layers = "..^4")]
[ResponseRefresh(Every = 3, Layers = "^4..")]
[AdaptiveResponse(Threshold = 0.5, Probe = Probe.Input, Layers = "2..^4")]
public sealed partial class TailPolicy;

/// <summary>Second-wave rules by layer range: decode states in the shallow layers, the vicinity and the drift test in the deep ones.</summary>
[CachePolicy("test-ranged-second-wave")]
[RefreshStates(RowStates.Masked | RowStates.JustDecoded, Layers = "..4")]
[Vicinity(Window = 8, Layers = "^2..")]
[DriftTrigger(Threshold = 0.8, Probe = Probe.Value, Layers = "4..")]
public sealed partial class RangedSecondWavePolicy;

/// <summary>A hand-written adjustment: the prompt is also recomputed at the last layer on every step.</summary>
[CachePolicy("test-adjusted")]
[ResponseRefresh(Every = 5)]
public sealed partial class AdjustedPolicy
{
    partial void AdjustPlan(in StepContext context, ref LayerPlan plan)
    {
        if (context.Layer == context.LayerCount - 1)
            plan = plan with { Prompt = SegmentAction.Refresh };
    }
}

/// <summary>A hand-written policy that forgets step 0 and reuses never-cached segments: the invariant check must catch it.</summary>
internal sealed class ForgetfulPolicy : ICachePolicy
{
    public string Name => "forgetful";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters { get; } = [];
    public LayerPlan Plan(in StepContext context) => context.Layer == 0 ? LayerPlan.RefreshAll : LayerPlan.ReuseAll;
}
