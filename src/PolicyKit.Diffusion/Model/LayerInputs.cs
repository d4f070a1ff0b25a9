using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// Everything a layer needs besides the hidden state, computed once per forward pass and shared by all
/// layers. The tensors belong to the forward pass: a runner may read and index them but must not keep them.
/// </summary>
public sealed class LayerInputs
{
    /// <summary>
    /// The tensors of one forward (see the properties). <paramref name="headCos"/> and <paramref name="headSignedSin"/> are
    /// <see cref="HeadCos"/> and <see cref="HeadSignedSin"/> where the caller has them already; null: built from cos and sin.
    /// </summary>
    public LayerInputs(Tensor cos, Tensor sin, Tensor positionIds, Tensor? attentionMask, Tensor? paddingMask, int batchSize, int sequenceLength, bool causal = false,
        Tensor? headCos = null, Tensor? headSignedSin = null)
    {
        Causal = causal;
        Cos = cos;
        Sin = sin;
        // Per-head layouts for the layers' one-call rotation (views and one small tensor per forward, shared by every layer).
        HeadCos = headCos ?? cos.unsqueeze(2);
        HeadSignedSin = headSignedSin ?? Rotary.SignedSin(sin).unsqueeze(2);
        PositionIds = positionIds;
        AttentionMask = attentionMask;
        PaddingMask = paddingMask;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>Rotary cos per position, <c>[B or 1, T, headDim]</c> float32 (1 when no row is padded).</summary>
    public Tensor Cos { get; }

    /// <summary>Rotary sin per position, <c>[B or 1, T, headDim]</c> float32.</summary>
    public Tensor Sin { get; }

    /// <summary><see cref="Cos"/> as <c>[B or 1, T, 1, headDim]</c>, broadcast over heads (<see cref="Rotary.ApplyHeads"/>).</summary>
    public Tensor HeadCos { get; }

    /// <summary><see cref="Rotary.SignedSin"/> of <see cref="Sin"/>, <c>[B or 1, T, 1, headDim]</c>.</summary>
    public Tensor HeadSignedSin { get; }

    /// <summary>Position ids <c>[B or 1, T]</c> int64: <c>cumsum(mask) - 1</c> clamped at 0, so left padding does not shift phases.</summary>
    public Tensor PositionIds { get; }

    /// <summary>
    /// Mask for attention (true = attend): <c>[B, 1, 1, T]</c> over keys when rows are padded, <c>[B or 1, 1, T, T]</c> over
    /// queries and keys when <see cref="Causal"/>, or null when every row attends to every key.
    /// </summary>
    public Tensor? AttentionMask { get; }

    /// <summary>The caller's <c>[B, T]</c> bool mask (true = real token), or null.</summary>
    public Tensor? PaddingMask { get; }

    /// <summary>True when each position attends only to itself and the positions before it (off for diffusion).</summary>
    public bool Causal { get; }

    public int BatchSize { get; }
    public int SequenceLength { get; }
}
