using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Model;

/// <summary>
/// Rotary position embeddings in the half-split convention of Llama, Qwen2 and LLaDA
/// (<c>rotate_half(x) = cat(-x[d/2:], x[:d/2])</c>, frequencies repeated as <c>cat(f, f)</c>), computed in float32
/// as LLaDA's <c>rope_full_precision</c> and Qwen2 do.
/// </summary>
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

    /// <summary>
    /// Rotates <paramref name="x"/> <c>[B, n, heads·headDim]</c> by <paramref name="cos"/>/<paramref name="sin"/>
    /// <c>[B or 1, n, headDim]</c> (the rows' own positions). Returns the same shape and dtype.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin, int headDim)
    {
        using var scope = torch.NewDisposeScope();
        var b = x.shape[0];
        var n = x.shape[1];
        var heads = x.shape[2] / headDim;
        bool f32 = x.dtype == ScalarType.Float32;
        var x32 = (f32 ? x : x.to(ScalarType.Float32)).view(b, n, heads, headDim);
        var half = headDim / 2;
        var rotated = torch.cat([-x32.narrow(-1, half, half), x32.narrow(-1, 0, half)], -1);
        var c = cos.unsqueeze(2);
        var s = sin.unsqueeze(2);
        var y = (x32 * c + rotated * s).view(b, n, heads * headDim);
        if (!f32) y = y.to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }
}
