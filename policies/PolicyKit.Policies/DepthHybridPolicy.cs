namespace PolicyKit.Policies;

/// <summary>
/// <c>depth-hybrid</c>: different rules at different depths (PolicyKit's own, from the design sketch). Shallow
/// layers (0..8), whose features drift most, recompute the whole response every 4 steps; deeper layers (8..)
/// never pay a full response refresh and recompute the 10% least similar tokens (V-verify) every step. The prompt
/// is recomputed every 50 steps everywhere. Overrides: <c>PromptRefresh.Every</c>,
/// <c>ResponseRefresh[0..8].Every</c>, <c>AdaptiveResponse[8..].Ratio</c>.
/// </summary>
[CachePolicy("depth-hybrid", Description = "Shallow layers: response every 4 steps; deep layers: V-verify rho 0.1")]
[PromptRefresh(Every = 50)]
[ResponseRefresh(Every = 4, Layers = "0..8")]
[AdaptiveResponse(Ratio = 0.1, Layers = "8..")]
public sealed partial class DepthHybrid;
