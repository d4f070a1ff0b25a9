using PolicyKit.Diffusion.Checkpoints;
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
        using (var viaRunner = model.Forward(ids, null, 0, 10, new StagedRunner())) { }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    /// <summary>
    /// Runs each layer from its public stages, computing attention for the query rows in two halves
    /// against all keys, the way a cache executor recomputes a subset of rows.
    /// </summary>
    private sealed class StagedRunner : ILayerRunner
    {
        public List<int> Calls { get; } = [];

        public Tensor RunLayer(int layerIndex, TransformerLayer layer, Tensor hidden, LayerInputs inputs)
        {
            Calls.Add(layerIndex);
            var t = inputs.SequenceLength;
            var split = t / 2;
            var x = layer.NormAttentionInput(hidden);
            var k = layer.ApplyRotary(layer.ProjectKey(x), inputs.Cos, inputs.Sin);
            var v = layer.ProjectValue(x);
            Tensor Half(long from, long length)
            {
                var rows = x.narrow(1, from, length);
                var q = layer.ApplyRotary(layer.ProjectQuery(rows), inputs.Cos.narrow(1, from, length), inputs.Sin.narrow(1, from, length));
                var attn = layer.ProjectAttentionOutput(layer.Attend(q, k, v, inputs.AttentionMask));
                var mid = hidden.narrow(1, from, length) + attn;
                return mid + layer.Mlp(layer.NormFfnInput(mid));
            }
            return torch.cat([Half(0, split), Half(split, t - split)], 1);
        }
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void RunnerBuiltFromStagesReproducesTheForward(Layout layout)
    {
        using var dir = new TempDir();
        var config = TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(4, 9, 200), TestModels.RandomIds(5, 9, 200));
        using var attention = torch.tensor(Enumerable.Range(0, 18).Select(i => i >= 3).ToArray(), [2, 9]);
        var runner = new StagedRunner();
        using var plain = model.Forward(ids, attention, 0, 9);
        using var staged = model.Forward(ids, attention, 0, 9, runner);
        Assert.Equal(Enumerable.Range(0, config.NumLayers), runner.Calls);
        Assert.True(TestModels.MaxAbsDiff(plain, staged) < 1e-5);
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
