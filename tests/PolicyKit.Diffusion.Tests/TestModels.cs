using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

/// <summary>Shared helpers: tiny checkpoints written by the tests, tensor conversions.</summary>
internal static class TestModels
{
    /// <summary>Small but non-trivial: 3 layers, 4 heads of 8, GQA 4→2 for Dream, biases for Dream.</summary>
    public static ModelSizes Tiny => new() { HiddenSize = 32, Layers = 3, Heads = 4, IntermediateSize = 48, MaxSequenceLength = 256 };

    public static ModelConfig Write(string dir, Layout layout, int seed = 7, RandomCheckpointOptions? options = null, ModelSizes? sizes = null) =>
        RandomCheckpoint.Write(dir, layout, sizes ?? Tiny, seed, options);

    public static Tensor Ids(params long[][] rows)
    {
        var t = rows[0].Length;
        var flat = rows.SelectMany(r => r).ToArray();
        return torch.tensor(flat, [rows.Length, t], ScalarType.Int64);
    }

    public static long[] RandomIds(int seed, int length, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (long)rng.Next(0, vocab)).ToArray();
    }

    public static double[] ToDoubles(Tensor t)
    {
        using var d = t.to(ScalarType.Float64).contiguous();
        return d.data<double>().ToArray();
    }

    /// <summary>Bitwise-equal values and equal shapes.</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var eq = a.eq(b).all();
        return eq.item<bool>();
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public static Dictionary<string, Tensor> Parameters(DiffusionModel model) =>
        model.Network.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
}
