using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Sampling;

/// <summary>
/// One denoising forward pass, as a sampler sees it. The model-backed implementation adds the cache
/// policy and FLOPs accounting; tests substitute a pure function of the tokens.
/// </summary>
public interface IDenoiser
{
    int MaskTokenId { get; }

    int VocabularySize { get; }

    Device Device { get; }

    /// <summary>
    /// Logits for the active block. <paramref name="tokens"/> is [B, T] int64 on <see cref="Device"/>;
    /// <paramref name="attentionMask"/> is [B, T] bool (true = real token) or null when no row is padded.
    /// Returns float32 [B, step.LogitsLength, V]; the caller disposes it.
    /// </summary>
    Tensor Predict(Tensor tokens, Tensor? attentionMask, in DenoiseStep step);
}
