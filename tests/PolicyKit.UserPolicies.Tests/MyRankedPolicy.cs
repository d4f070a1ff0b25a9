using PolicyKit;

namespace MyApp.Policies;

/// <summary>
/// A user's policy over the probes and the trigger: masked rows by the previous step's confidence (a third of them),
/// a drift test on the most-attended row's input in the deep layers, the active block every step.
/// </summary>
[CachePolicy("my-ranked", Description = "Sample user policy with probes and a drift trigger")]
[RefreshActiveBlock]
[AdaptiveStates(RowStates.Masked, Ratio = 0.33, Probe = Probe.Confidence)]
[DriftTrigger(Threshold = 0.95, Probe = Probe.Input, Layers = "2..")]
public sealed partial class MyRankedPolicy;

/// <summary>A hand-written policy with a drift test no engine can run (threshold 2, built without DriftTest.Create).</summary>
public sealed class ImpossibleDriftTest : ICachePolicy
{
    public string Name => "impossible-drift-test";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) =>
        context.Step == 0 ? LayerPlan.RefreshAll : LayerPlan.ReuseAll with { Trigger = new DriftTest(2.0, Probe.Key) };
}
