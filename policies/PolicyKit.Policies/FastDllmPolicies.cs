namespace PolicyKit.Policies;

/// <summary>
/// <c>fast-dllm-prefix</c>: Fast-dLLM v1's prefix cache (NVlabs, block-wise approximate KV cache). One full
/// forward at the start of each block; within the block the prompt and the response left of the block are
/// reused, and the active block plus everything right of it are recomputed every step. No tunable parameters
/// (the block length is the sampler's).
/// </summary>
[CachePolicy("fast-dllm-prefix", Description = "Fast-dLLM prefix cache: block-start refresh, block + suffix recomputed")]
[RefreshAllOnBlockStart]
[RefreshActiveBlock(IncludeSuffix = true)]
public sealed partial class FastDllmPrefixCache;

/// <summary>
/// <c>fast-dllm-dual</c>: Fast-dLLM v1's dual cache. One full forward at the start of each block; within the
/// block only the active block is recomputed and everything else (prompt, prefix and the masked suffix) is
/// reused. No tunable parameters.
/// </summary>
[CachePolicy("fast-dllm-dual", Description = "Fast-dLLM dual cache: block-start refresh, only the active block recomputed")]
[RefreshAllOnBlockStart]
[RefreshActiveBlock]
public sealed partial class FastDllmDualCache;
