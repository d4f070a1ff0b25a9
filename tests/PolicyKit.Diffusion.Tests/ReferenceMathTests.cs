using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

/// <summary>
/// The layer stages against straightforward float64 loops written from the definitions.
/// Tolerance: 1e-5 absolute on O(1) values (fp32 accumulation over at most 64 terms).
/// </summary>
public class ReferenceMathTests
{
    private const double Tol = 1e-5;

    private static Tensor Rand(int seed, params long[] shape)
    {
        using var g = new torch.Generator((ulong)seed);
        return torch.randn(shape, ScalarType.Float32, generator: g);
    }

    [Fact]
    public void RmsNormMatchesFloat64Definition()
    {
        using var x = Rand(1, 2, 3, 16) * 3;
        using var norm = new RmsNorm("n", 16, 1e-5, ScalarType.Float32, torch.CPU);
        using (torch.no_grad()) norm.weight.copy_(Rand(2, 16));
        using var y = norm.forward(x);
        var xs = TestModels.ToDoubles(x);
        var w = TestModels.ToDoubles(norm.weight);
        var ys = TestModels.ToDoubles(y);
        for (var row = 0; row < 6; row++)
        {
            var ms = 0.0;
            for (var j = 0; j < 16; j++) ms += xs[row * 16 + j] * xs[row * 16 + j];
            var inv = 1.0 / Math.Sqrt(ms / 16 + 1e-5);
            for (var j = 0; j < 16; j++)
                Assert.Equal(w[j] * xs[row * 16 + j] * inv, ys[row * 16 + j], Tol);
        }
    }

    [Fact]
    public void RotaryMatchesFloat64HalfSplitRotation()
    {
        const int heads = 2, headDim = 8, n = 5;
        const double theta = 10000.0;
        using var x = Rand(3, 1, n, heads * headDim);
        using var positions = torch.tensor(new long[] { 0, 1, 7, 100, 3000 }).unsqueeze(0);
        using var invFreq = Rotary.InverseFrequencies(headDim, theta, torch.CPU);
        var (cos, sin) = Rotary.CosSin(positions, invFreq);
        using var _c = cos;
        using var _s = sin;
        using var y = Rotary.Apply(x, cos, sin, headDim);
        var xs = TestModels.ToDoubles(x);
        var ys = TestModels.ToDoubles(y);
        var pos = new[] { 0, 1, 7, 100, 3000 };
        for (var t = 0; t < n; t++)
            for (var h = 0; h < heads; h++)
                for (var i = 0; i < headDim / 2; i++)
                {
                    // Pair (i, i + d/2) rotated by angle pos * theta^(-2i/d).
                    var angle = pos[t] * Math.Pow(theta, -2.0 * i / headDim);
                    var b = t * heads * headDim + h * headDim;
                    var x1 = xs[b + i];
                    var x2 = xs[b + i + headDim / 2];
                    // fp32 angles at position 3000 carry ~1e-4 rad of rounding (as in the reference implementations).
                    var tol = pos[t] > 1000 ? 1e-3 : Tol;
                    Assert.Equal(x1 * Math.Cos(angle) - x2 * Math.Sin(angle), ys[b + i], tol);
                    Assert.Equal(x2 * Math.Cos(angle) + x1 * Math.Sin(angle), ys[b + i + headDim / 2], tol);
                }
    }

    /// <summary>softmax(q·k/sqrt(d) over unmasked keys) · v, with query head h reading kv head h / (H / Hkv).</summary>
    private static double[] ReferenceAttention(double[] q, double[] k, double[] v, bool[]? keyMask, int b, int nq, int nk, int heads, int kvHeads, int d)
    {
        var o = new double[b * nq * heads * d];
        for (var bi = 0; bi < b; bi++)
            for (var h = 0; h < heads; h++)
            {
                var kh = h / (heads / kvHeads);
                for (var i = 0; i < nq; i++)
                {
                    var scores = new double[nk];
                    var max = double.NegativeInfinity;
                    for (var j = 0; j < nk; j++)
                    {
                        if (keyMask is not null && !keyMask[bi * nk + j]) { scores[j] = double.NegativeInfinity; continue; }
                        var s = 0.0;
                        for (var e = 0; e < d; e++)
                            s += q[((bi * nq + i) * heads + h) * d + e] * k[((bi * nk + j) * kvHeads + kh) * d + e];
                        scores[j] = s / Math.Sqrt(d);
                        max = Math.Max(max, scores[j]);
                    }
                    var sum = scores.Sum(s => double.IsNegativeInfinity(s) ? 0 : Math.Exp(s - max));
                    for (var j = 0; j < nk; j++)
                    {
                        if (double.IsNegativeInfinity(scores[j])) continue;
                        var p = Math.Exp(scores[j] - max) / sum;
                        for (var e = 0; e < d; e++)
                            o[((bi * nq + i) * heads + h) * d + e] += p * v[((bi * nk + j) * kvHeads + kh) * d + e];
                    }
                }
            }
        return o;
    }

    private static TransformerLayer Layer(int heads, int kvHeads, int headDim)
    {
        var config = new ModelConfig
        {
            Layout = Layout.Dream, HiddenSize = heads * headDim, NumLayers = 1, NumHeads = heads, NumKvHeads = kvHeads,
            IntermediateSize = 8, VocabSize = 8, QkvBias = true,
        };
        return new TransformerLayer(0, config, ScalarType.Float32, torch.CPU);
    }

    [Theory]
    [InlineData(4, 4, 6, 6, false)]   // MHA
    [InlineData(4, 2, 6, 6, false)]   // GQA
    [InlineData(6, 1, 6, 6, true)]    // MQA with a padding mask
    [InlineData(4, 2, 3, 7, true)]    // fewer queries than keys (a cache executor's subset), GQA, padding
    public void AttentionMatchesFloat64Reference(int heads, int kvHeads, int nq, int nk, bool padded)
    {
        const int b = 2, d = 8;
        using var layer = Layer(heads, kvHeads, d);
        using var q = Rand(10, b, nq, heads * d);
        using var k = Rand(11, b, nk, kvHeads * d);
        using var v = Rand(12, b, nk, kvHeads * d);
        bool[]? keyMask = null;
        Tensor? mask = null;
        if (padded)
        {
            // Row 0 full, row 1 left-padded by two keys.
            keyMask = Enumerable.Range(0, b * nk).Select(i => i < nk || i - nk >= 2).ToArray();
            mask = torch.tensor(keyMask, [b, 1, 1, nk]);
        }
        using var o = layer.Attend(q, k, v, mask);
        Assert.Equal(new long[] { b, nq, heads * d }, o.shape);
        var expected = ReferenceAttention(TestModels.ToDoubles(q), TestModels.ToDoubles(k), TestModels.ToDoubles(v), keyMask, b, nq, nk, heads, kvHeads, d);
        var actual = TestModels.ToDoubles(o);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], Tol);
        mask?.Dispose();
    }

    [Fact]
    public void MlpIsSwiGlu()
    {
        using var layer = Layer(2, 2, 4);
        var seed = 100;
        using (torch.no_grad())
            foreach (var (_, p) in layer.named_parameters()) p.copy_(Rand(seed++, p.shape) * 0.5);
        using var x = Rand(20, 1, 3, 8);
        using var y = layer.Mlp(x);
        var xs = TestModels.ToDoubles(x);
        var g = TestModels.ToDoubles(layer.gate_proj.weight);
        var u = TestModels.ToDoubles(layer.up_proj.weight);
        var dn = TestModels.ToDoubles(layer.down_proj.weight);
        var ys = TestModels.ToDoubles(y);
        for (var t = 0; t < 3; t++)
        {
            var hidden = new double[8];
            for (var j = 0; j < 8; j++)
            {
                double a = 0, c = 0;
                for (var e = 0; e < 8; e++) { a += g[j * 8 + e] * xs[t * 8 + e]; c += u[j * 8 + e] * xs[t * 8 + e]; }
                hidden[j] = a / (1 + Math.Exp(-a)) * c;
            }
            for (var o = 0; o < 8; o++)
            {
                var s = 0.0;
                for (var j = 0; j < 8; j++) s += dn[o * 8 + j] * hidden[j];
                Assert.Equal(s, ys[t * 8 + o], Tol);
            }
        }
    }

    [Fact]
    public void DreamLogitsAreShiftedByOneAndLLaDAsAreNot()
    {
        using var dreamDir = new TempDir();
        using var lladaDir = new TempDir();
        TestModels.Write(dreamDir.Path, Layout.Dream);
        TestModels.Write(lladaDir.Path, Layout.LLaDA);
        using var dream = DiffusionModel.Load(dreamDir.Path);
        using var llada = DiffusionModel.Load(lladaDir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(9, 12, 256));

        // Dream: position i is predicted from row i-1; position 0 from itself (Dream's generate: cat(logits[:, :1], logits[:, :-1])).
        using var full = dream.Forward(ids, null, 0, 12);
        Assert.True(TestModels.Same(full.select(1, 0), full.select(1, 1)));
        using var window = dream.Forward(ids, null, 5, 4);
        Assert.True(TestModels.MaxAbsDiff(full.narrow(1, 5, 4), window) < 1e-6);

        using var lfull = llada.Forward(ids, null, 0, 12);
        Assert.False(TestModels.Same(lfull.select(1, 0), lfull.select(1, 1)));
        using var lwindow = llada.Forward(ids, null, 5, 4);
        Assert.True(TestModels.MaxAbsDiff(lfull.narrow(1, 5, 4), lwindow) < 1e-6);
    }
}
