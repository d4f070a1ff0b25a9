namespace PolicyKit.Policies;

/// <summary>
/// <c>dkv-cache</c>: dKV-Cache-Decode (Ma et al., 2025). Reproduced: delayed caching — masked rows
/// are recomputed every step, a row decoded at the previous step is recomputed once more (its K/V enter the cache one
/// step after decoding), settled rows and the prompt are reused; a full refresh every <c>cache_steps</c> = 8 forward
/// passes and at each block start. Not reproduced: dKV-Cache-Greedy's local window, and the authors' one-step-late
/// commit order inside the sampler. In a batch a column is recomputed when any sample needs it.
/// </summary>
[CachePolicy("dkv-cache", Description = "dKV-Cache: masked and just-decoded rows every step, full refresh every 8 and per block")]
[FullRefresh(Every = 8)]
[RefreshAllOnBlockStart]
[RefreshStates(RowStates.Masked | RowStates.JustDecoded)]
public sealed partial class DkvCache;

/// <summary>
/// <c>vicinity</c>: dInfer's vicinity refresh. Reproduced: the active block and the
/// w = 16 response positions on each side of it are recomputed every step, everything else (prompt, far prefix, far
/// suffix) reused as a dual cache; the first 2 forward passes of each block refresh everything (warm-up). Not
/// reproduced: dInfer's iteration manager and CUDA graphs. With one block (Dream) the vicinity is empty.
/// </summary>
[CachePolicy("vicinity", Description = "dInfer vicinity refresh: active block +/-16 every step, full refresh for 2 steps per block")]
[FullRefresh(WarmupSteps = 2)]
[RefreshActiveBlock]
[Vicinity(Window = 16)]
public sealed partial class VicinityRefresh;

/// <summary>
/// <c>dpad</c>: DPad's suffix dropout. Reproduced: only the 16 suffix positions
/// nearest the active block take part in the forward; the farther (masked) suffix is dropped — neither queries nor
/// keys — at every step and layer; everything kept is recomputed every step (no cache). Not reproduced: the
/// distance-decay dropout inside the window, and the prefix cache the paper combines it with (that is
/// <c>[PromptRefresh]</c> / <c>[RefreshActiveBlock]</c> away). With one block (Dream) nothing is dropped.
/// </summary>
[CachePolicy("dpad", Description = "DPad: suffix beyond 16 positions of the block dropped, the rest recomputed every step")]
[PromptRefresh(Every = 1)]
[ResponseRefresh(Every = 1)]
[DropFarSuffix(Window = 16)]
public sealed partial class SuffixDropout;

/// <summary>
/// <c>elastic-cache</c>: Elastic-Cache (arXiv 2510.14973). Reproduced: the attention-drift trigger — at each layer the
/// row that received the most attention from the active block's queries at its last measure is projected afresh (K) and
/// compared with its cached K; below gamma = 0.9 the deeper layers of that step are recomputed in full (depth-aware
/// refresh: the shallow layers keep their cache); the active window (block) is recomputed every step while the prompt,
/// the decoded prefix and the far masked suffix are reused (window caching of far MASK tokens); a full refresh at each
/// block start. Not reproduced: the paper compares the attention weights themselves (here the most-attended row's K,
/// a cheaper stand-in), its sliding (not block-aligned) window, and its threshold parallel decoding (a sampler option).
/// </summary>
[CachePolicy("elastic-cache", Description = "Elastic-Cache: drift of the most-attended row (K, gamma 0.9) refreshes the deeper layers; block every step")]
[RefreshAllOnBlockStart]
[RefreshActiveBlock]
[DriftTrigger(Threshold = 0.9, Probe = Probe.Key)]
public sealed partial class ElasticCache;

/// <summary>
/// <c>d2cache</c>: d2Cache (ICLR 2026). Reproduced: two-stage row selection each step — masked rows by the certainty
/// prior (previous step's confidence times the share of decoded neighbours within 4 positions), the top 25 % recomputed;
/// the other response rows by the attention they received at that layer, the top 10 % recomputed; the rest reuse their
/// K/V and outputs. Rows decoded at the previous step are recomputed once (their cache holds the mask's state), and each
/// block starts with a full refresh. Not reproduced: attention rollout across layers (the per-layer attention received
/// stands in), the Gaussian neighbourhood weighting and the cumulative-attention cut-off; prompt rows are reused.
/// </summary>
[CachePolicy("d2cache", Description = "d2Cache: masked rows by certainty prior (25 %), other response rows by attention received (10 %)")]
[RefreshAllOnBlockStart]
[RefreshStates(RowStates.JustDecoded)]
[AdaptiveStates(RowStates.Masked, Ratio = 0.25, Probe = Probe.CertaintyPrior)]
[AdaptiveResponse(Ratio = 0.1, Probe = Probe.AttentionReceived)]
public sealed partial class D2Cache;
