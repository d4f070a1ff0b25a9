namespace PolicyKit.Policies;

/// <summary>
/// <c>none</c>: the uncached baseline. The engine runs the plain forward pass over the whole sequence at every
/// step and allocates no caches. Every speed-up is measured against this policy. No parameters.
/// </summary>
[CachePolicy("none", UsesCache = false, Description = "No cache: the plain forward pass (baseline)")]
public sealed partial class NoCache;

/// <summary>
/// <c>always-refresh</c>: goes through the cache path (caches are written) but recomputes every segment at every
/// layer on every step. Its output must equal <c>none</c>'s exactly, which makes it the exactness reference for the
/// cache executor. Parameters: prompt and response refresh interval 1.
/// </summary>
[CachePolicy("always-refresh", Description = "Cache path, everything recomputed every step (exactness reference)")]
[PromptRefresh(Every = 1)]
[ResponseRefresh(Every = 1)]
public sealed partial class AlwaysRefresh;

/// <summary>
/// <c>prompt-cache</c>: cache only the prompt. The prompt's features are recomputed every K_p = 100 forward passes
/// (dLLM-Cache, arXiv 2506.06295, reports that K_p up to 100 costs almost no accuracy); the response is recomputed
/// every step. The simplest useful cache, for long prompts with short answers.
/// </summary>
[CachePolicy("prompt-cache", Description = "Prompt reused for K_p = 100 steps, response recomputed every step")]
[PromptRefresh(Every = 100)]
[ResponseRefresh(Every = 1)]
public sealed partial class PromptCache;
