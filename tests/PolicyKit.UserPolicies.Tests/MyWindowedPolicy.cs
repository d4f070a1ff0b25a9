using PolicyKit;

namespace MyApp.Policies;

/// <summary>
/// A user's second-wave policy: delayed caching of decoded rows, a vicinity of 8 around the block, the suffix
/// beyond it dropped, the prompt every 32 steps and a full refresh every 10.
/// </summary>
[CachePolicy("my-windowed", Description = "Sample second-wave user policy")]
[PromptRefresh(Every = 32)]
[FullRefresh(Every = 10)]
[RefreshStates(RowStates.JustDecoded)]
[Vicinity(Window = 8)]
[DropFarSuffix(Window = 8)]
public sealed partial class MyWindowedPolicy;

/// <summary>A hand-written policy that breaks the Drop rule (it drops the active block, whose logits are needed).</summary>
public sealed class DropsTheActiveBlock : ICachePolicy
{
    public string Name => "drops-the-active-block";
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => [];
    public LayerPlan Plan(in StepContext context) =>
        context.Step == 0 ? LayerPlan.RefreshAll : LayerPlan.ReuseAll with { ActiveBlock = SegmentAction.Drop };
}
