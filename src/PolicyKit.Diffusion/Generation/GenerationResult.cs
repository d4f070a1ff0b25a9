using PolicyKit.Diffusion.Flops;

namespace PolicyKit.Diffusion.Generation;

/// <summary>One prompt's answer with what it cost.</summary>
/// <param name="Text">The decoded response, cut at the first end-of-sequence token.</param>
/// <param name="TokenIds">Every generated token id (gen length of them).</param>
/// <param name="Steps">Denoising steps (forward passes) the generation ran.</param>
/// <param name="Elapsed">Wall-clock time of the whole generation (shared by the rows of a batch).</param>
/// <param name="Flops">Executed and full-forward FLOPs (of the whole batch).</param>
/// <param name="Policy">The cache policy's name (<c>none</c> without one).</param>
/// <param name="RecomputeFraction">Mean fraction of layer rows recomputed (1 without a cache).</param>
/// <param name="CacheBytes">Peak bytes of the policy's cache tensors (of the whole batch; 0 without a cache).</param>
public sealed record GenerationResult(
    string Text,
    IReadOnlyList<long> TokenIds,
    int Steps,
    TimeSpan Elapsed,
    FlopCount Flops,
    string Policy,
    double RecomputeFraction,
    long CacheBytes = 0);
