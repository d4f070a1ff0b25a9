using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// Rotary position embeddings in the half-split convention of Llama, Qwen2 and LLaDA
/// (<c>rotate_half(x) = cat(-x[d/2:], x[:d/2])</c>, frequencies repeated as <c>cat(f, f)</c>), computed in float32
/// as LLaDA's <c>rope_full_precision</c> and Qwen2 do.
/// </summary>
/// <remarks>
/// <c>rotate_half(x) · sin</c> is computed as <c>roll(x, d/2) · cat(-sin[:d/2], sin[d/2:])</c>: the same products
/// (negation is exact), bit for bit, in two native calls instead of four. <see cref="SignedSin"/> builds that sine once
/// per forward, and the layers rotate q and k of all heads in one call (<see cref="ApplyHeads"/>).
/// </remarks>
public static class Rotary
{
    /// <summary><c>1 / theta^(2i/d)</c> for i in [0, d/2), float32, as both reference implementations compute it.</summary>
    public static Tensor InverseFrequencies(int headDim, double theta, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var exponent = torch.arange(0, headDim, 2, ScalarType.Float32, device) / headDim;
        var basis = torch.tensor((float)theta, ScalarType.Float32, device);
        return torch.reciprocal(basis.pow(exponent)).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin for integer positions <c>[..., T]</c>: each <c>[..., T, headDim]</c> in float32.</summary>
    public static (Tensor Cos, Tensor Sin) CosSin(Tensor positions, Tensor inverseFrequencies)
    {
        using var scope = torch.NewDisposeScope();
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inverseFrequencies;
        var angles = torch.cat([freqs, freqs], -1);
        return (angles.cos().MoveToOuterDisposeScope(), angles.sin().MoveToOuterDisposeScope());
    }

    /// <summary><c>cat(-sin[..., :d/2], sin[..., d/2:])</c>: the sine that multiplies <c>roll(x, d/2)</c>.</summary>
    public static Tensor SignedSin(Tensor sin)
    {
        var signed = sin.clone();
        var half = sin.shape[^1] / 2;
        using (var first = signed.narrow(-1, 0, half)) first.neg_();
        return signed;
    }

    /// <summary>
    /// Rotates <paramref name="x"/> <c>[B, n, heads·headDim]</c> by <paramref name="cos"/>/<paramref name="sin"/>
    /// <c>[B or 1, n, headDim]</c> (the rows' own positions). Returns the same shape and dtype.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin, int headDim)
    {
        using var scope = torch.NewDisposeScope();
        return ApplyHeads(x, cos.unsqueeze(2), SignedSin(sin).unsqueeze(2), headDim).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates every head of <paramref name="x"/> <c>[B, n, heads·headDim]</c> (any stride between rows; q and k heads
    /// side by side rotate in one call) by <paramref name="cos"/> and <paramref name="signedSin"/> (<see cref="SignedSin"/>),
    /// both <c>[B or 1, n, 1, headDim]</c> float32. Returns a new contiguous <c>[B, n, heads·headDim]</c> in x's dtype.
    /// </summary>
    public static Tensor ApplyHeads(Tensor x, Tensor cos, Tensor signedSin, int headDim)
    {
        long b = x.shape[0], n = x.shape[1], width = x.shape[2];
        if (x.dtype != ScalarType.Float32)
        {
            using var x32 = x.to(ScalarType.Float32);
            using var y32 = ApplyHeads(x32, cos, signedSin, headDim);
            return y32.to(x.dtype);
        }
        using var heads = x.view(b, n, width / headDim, headDim);
        using var rolled = heads.roll(headDim / 2, -1);
        using var y = heads * cos;
        y.add_(rolled.mul_(signedSin));
        return y.view(b, n, width);
    }
}
