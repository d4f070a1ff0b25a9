using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

public class ForwardTests
{
    /// <summary>fp32 tolerance for "the same logits": padding changes reduction shapes, not the maths.</summary>
    private const double BatchTol = 1e-4;

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void LeftPaddedBatchGivesEachRowItsOwnLogits(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        const int response = 6;
        var mask = (long)model.MaskTokenId;
        long[] Sequence(long[] prompt) => [.. prompt, .. Enumerable.Repeat(mask, response)];
        var shortSeq = Sequence(TestModels.RandomIds(1, 5, 200));
        var longSeq = Sequence(TestModels.RandomIds(2, 11, 200));
        var pad = longSeq.Length - shortSeq.Length;
        var eos = (long)model.Config.EosTokenId!.Value;

        using var batchIds = TestModels.Ids([.. Enumerable.Repeat(eos, pad), .. shortSeq], longSeq);
        var maskValues = Enumerable.Range(0, longSeq.Length).Select(i => i >= pad).Concat(Enumerable.Repeat(true, longSeq.Length)).ToArray();
        using var attention = torch.tensor(maskValues, [2, longSeq.Length]);
        var start = longSeq.Length - response;
        using var batch = model.Forward(batchIds, attention, start, response);

        using var aloneShortIds = TestModels.Ids(shortSeq);
        using var aloneLongIds = TestModels.Ids(longSeq);
        using var aloneShort = model.Forward(aloneShortIds, null, shortSeq.Length - response, response);
        using var aloneLong = model.Forward(aloneLongIds, null, start, response);
        Assert.True(TestModels.MaxAbsDiff(batch.select(0, 0), aloneShort.squeeze(0)) < BatchTol);
        Assert.True(TestModels.MaxAbsDiff(batch.select(0, 1), aloneLong.squeeze(0)) < BatchTol);
        // The padding really is masked: without the mask the short row changes.
        using var unmasked = model.Forward(batchIds, null, start, response);
        Assert.True(TestModels.MaxAbsDiff(unmasked.select(0, 0), aloneShort.squeeze(0)) > 1e-3);
    }

    [Fact]
    public void OnlyTheReturnedTensorOutlivesForward()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(3, 2 * 10, 200).Chunk(10).Select(c => c.ToArray()).ToArray());
        using var attention = torch.ones([2, 10], ScalarType.Bool);
        using (var warm = model.Forward(ids, attention, 0, 10)) { }
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var logits = model.Forward(ids, attention, 2, 8);
        Assert.Equal(before + 1, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        logits.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        using (var cache = new EveryOtherRowCache())
        {
            using (var fill = model.Forward(ids, null, 0, 10, cache)) { }
            using (var reuse = model.Forward(ids, null, 0, 10, cache)) { }
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    /// <summary>
    /// A cache hook written here, independent of the engine's executor: its first forward computes every row and
    /// stores each layer's K, V and outputs; later forwards recompute only the odd columns and take the even
    /// ones from the store.
    /// </summary>
    private sealed class EveryOtherRowCache : ILayerCache, IDisposable
    {
        private readonly Dictionary<(int Layer, string What), Tensor> _store = [];

        public List<int> Calls { get; } = [];

        public LayerRows SelectRows(TransformerLayer layer, Tensor hidden, LayerInputs inputs)
        {
            Calls.Add(layer.Index);
            int b = inputs.BatchSize, t = inputs.SequenceLength;
            if (!_store.ContainsKey((layer.Index, "k"))) return LayerRows.All(t);
            var odd = torch.arange(1, t, 2, ScalarType.Int64).unsqueeze(0).expand(b, -1);
            return LayerRows.Subset(odd, t);
        }

        public (Tensor Key, Tensor Value) UpdateKeyValue(TransformerLayer layer, in LayerRows rows, Tensor normalisedInput, Tensor query, Tensor key, Tensor value) =>
            (Merge(layer.Index, "k", rows, key), Merge(layer.Index, "v", rows, value));

        public Tensor MergeAttention(TransformerLayer layer, in LayerRows rows, Tensor? attention) => Merge(layer.Index, "attn", rows, attention!);

        public Tensor MergeFfn(TransformerLayer layer, in LayerRows rows, Tensor? ffn) => Merge(layer.Index, "ffn", rows, ffn!);

        /// <summary>All rows: kept (outside the layer's dispose scope). A subset: the stored rows with the fresh ones written over them.</summary>
        private Tensor Merge(int layer, string what, in LayerRows rows, Tensor computed)
        {
            if (rows.IsAll)
            {
                if (_store.Remove((layer, what), out var old)) old.Dispose();
                _store[(layer, what)] = computed.contiguous().clone().DetachFromDisposeScope();
                return computed;
            }
            var stored = _store[(layer, what)];
            var merged = stored.clone();
            merged.view(stored.shape[0] * stored.shape[1], -1).index_copy_(0, rows.FlatIndex!, computed.reshape(rows.FlatIndex!.shape[0], -1));
            return merged;
        }

        public void Dispose()
        {
            foreach (var tensor in _store.Values) tensor.Dispose();
        }
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void A_cache_hook_that_recomputes_a_subset_reproduces_the_forward_and_counts_its_flops(Layout layout)
    {
        using var dir = new TempDir();
        var config = TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(4, 9, 200), TestModels.RandomIds(5, 9, 200));
        using var attention = torch.tensor(Enumerable.Range(0, 18).Select(i => i >= 3).ToArray(), [2, 9]);
        using var cache = new EveryOtherRowCache();
        var counter = FlopCounter.For(config);
        var plainFlops = new FlopTally(counter);
        var fillFlops = new FlopTally(counter);
        var reuseFlops = new FlopTally(counter);

        using var plain = model.Forward(ids, attention, 0, 9, flops: plainFlops);
        using var fill = model.Forward(ids, attention, 0, 9, cache, fillFlops);
        using var reuse = model.Forward(ids, attention, 0, 9, cache, reuseFlops);

        Assert.Equal(Enumerable.Range(0, config.NumLayers).Concat(Enumerable.Range(0, config.NumLayers)), cache.Calls);
        Assert.True(TestModels.Same(plain, fill), "a hook that computes every row must give the plain forward bitwise");
        Assert.True(TestModels.MaxAbsDiff(plain, reuse) < 1e-5, $"{TestModels.MaxAbsDiff(plain, reuse)}");

        var full = counter.FullForward(2, 9, 9);
        Assert.Equal(new FlopCount(full, full), plainFlops.Total);
        Assert.Equal(plainFlops.Total, fillFlops.Total);
        // 4 odd columns of 9 recomputed per sequence, V projected by the layer, nothing projected by the hook.
        var expected = config.NumLayers * counter.Layer(2, 9, 4, 4, 0).Executed + counter.LmHead(2 * 9);
        Assert.Equal(new FlopCount(expected, full), reuseFlops.Total);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void Causal_attention_hides_later_tokens_and_keeps_padded_rows_their_own(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        const int t = 10, k = 6;
        var first = TestModels.RandomIds(11, t, 200);
        var second = first[..k].Concat(TestModels.RandomIds(12, t - k, 200)).ToArray();  // same first k tokens
        using var ids = TestModels.Ids(first, second);

        using var causal = model.Forward(ids, null, 0, t, causal: true);
        using var bidirectional = model.Forward(ids, null, 0, t);
        // Positions before k see only the shared tokens under causal attention; bidirectional ones see the rest too.
        Assert.True(TestModels.MaxAbsDiff(causal.select(0, 0).narrow(0, 0, k), causal.select(0, 1).narrow(0, 0, k)) < 1e-5);
        Assert.True(TestModels.MaxAbsDiff(bidirectional.select(0, 0).narrow(0, 0, k), bidirectional.select(0, 1).narrow(0, 0, k)) > 1e-3);

        // Each position's logits are those of the causal forward over its prefix alone.
        for (int j = 0; j < t; j += 3)
        {
            using var prefix = TestModels.Ids(first[..(j + 1)]);
            using var alone = model.Forward(prefix, null, j, 1, causal: true);
            Assert.True(TestModels.MaxAbsDiff(alone.squeeze(0).squeeze(0), causal.select(0, 0).select(0, j)) < 1e-5, $"position {j}");
        }

        // A left-padded row keeps its own causal logits (pad rows attend to themselves, so nothing turns NaN).
        const int pad = 3;
        var shortRow = first[..(t - pad)];
        using var padded = TestModels.Ids([.. Enumerable.Repeat(0L, pad), .. shortRow], first);
        using var mask = torch.tensor(Enumerable.Range(0, 2 * t).Select(i => i >= pad).ToArray(), [2, t]);
        using var batch = model.Forward(padded, mask, pad, t - pad, causal: true);
        using var shortIds = TestModels.Ids(shortRow);
        using var alone2 = model.Forward(shortIds, null, 0, t - pad, causal: true);
        // (From the second position on: Dream reads the first real position's logits from the pad before it.)
        Assert.True(TestModels.MaxAbsDiff(batch.select(0, 0).narrow(0, 1, t - pad - 1), alone2.squeeze(0).narrow(0, 1, t - pad - 1)) < 1e-4);
        Assert.False(batch.isnan().any().item<bool>());
    }

    [Fact]
    public void Causal_attention_refuses_a_cache_that_skips_rows()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(4, 8, 200));
        using var cache = new EveryOtherRowCache();
        using (var fill = model.Forward(ids, null, 0, 8, cache, causal: true)) { }
        var error = Assert.Throws<InvalidOperationException>(() => model.Forward(ids, null, 0, 8, cache, causal: true));
        Assert.Contains("causal attention computes every row", error.Message);
    }

    [Fact]
    public void ConcurrentForwardsMatchSequentialOnes()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        using var model = DiffusionModel.Load(dir.Path);
        var inputs = Enumerable.Range(0, 4).Select(i => TestModels.RandomIds(50 + i, 16, 200)).ToArray();
        var sequential = inputs.Select(ids =>
        {
            using var t = TestModels.Ids(ids);
            using var l = model.Forward(t, null, 0, 16);
            return TestModels.ToDoubles(l);
        }).ToArray();
        var parallel = new double[inputs.Length][];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            for (var repeat = 0; repeat < 3; repeat++)
            {
                using var t = TestModels.Ids(inputs[i]);
                using var l = model.Forward(t, null, 0, 16);
                parallel[i] = TestModels.ToDoubles(l);
            }
        });
        for (var i = 0; i < inputs.Length; i++) Assert.Equal(sequential[i], parallel[i]);
    }

    [Fact]
    public void BadArgumentsAreRejectedBeforeWork()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids([1, 2, 3, 4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(ids, null, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(ids, null, -1, 1));
        using var floatIds = torch.zeros(1, 4);
        Assert.Throws<ArgumentException>(() => model.Forward(floatIds, null, 0, 4));
        using var wrongMask = torch.ones([1, 3], ScalarType.Bool);
        Assert.Throws<ArgumentException>(() => model.Forward(ids, wrongMask, 0, 4));
        using var emptyRow = torch.zeros([1, 4], ScalarType.Bool);
        Assert.Throws<ArgumentException>(() => model.Forward(ids, emptyRow, 0, 4));
        using var tooLong = torch.zeros([1, model.Config.MaxSequenceLength + 1], ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => model.Forward(tooLong, null, 0, 1));
    }
}
