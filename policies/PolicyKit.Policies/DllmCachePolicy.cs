namespace PolicyKit.Policies;

/// <summary>
/// <c>dllm-cache</c>: dLLM-Cache (Liu et al., 2025, arXiv 2506.06295) with the paper's defaults. The prompt is
/// recomputed every K_p = 100 forward passes and each response segment every K_r = 7; in between, V-verify updates
/// the response adaptively: fresh V for every response token, cosine similarity with the cached V, and the
/// rho = 0.25 least similar tokens recomputed. Layer 0 is always recomputed in full, as in the released code
/// (needed to reproduce the published numbers). Tune K_p (50-100) and K_r (5-8) per task through overrides
/// <c>PromptRefresh.Every</c>, <c>ResponseRefresh.Every</c>, <c>AdaptiveResponse.Ratio</c>.
/// </summary>
[CachePolicy("dllm-cache", Description = "dLLM-Cache: K_p 100, K_r 7, V-verify rho 0.25, layer 0 always refreshed")]
[PromptRefresh(Every = 100)]
[ResponseRefresh(Every = 7)]
[AdaptiveResponse(Ratio = 0.25, Probe = Probe.Value)]
[AlwaysRefreshLayers(0)]
public sealed partial class DllmCache;
