using FsCheck;
using FsCheck.Fluent;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Tokenization;
using TorchSharp;
using Xunit.Abstractions;

namespace PolicyKit.Diffusion.Tests.Reliability;

public sealed record LoadCase(Layout Layout, string File, ConfigEdit[] ConfigEdits, Edit[] ByteEdits)
{
    public override string ToString() =>
        $"{Layout} {File}: [{string.Join(", ", ConfigEdits.Select(e => e.ToString()))}] [{string.Join(", ", ByteEdits.Select(e => e.ToString()))}]";
}

/// <summary>
/// The whole load: a real tiny checkpoint with one of its files edited (config values that no longer match the
/// weights, a flipped or truncated weights file, a broken tokenizer) either loads into a model whose forward
/// pass works, or throws the typed error of the file at fault, naming a file of the checkpoint, and leaves no
/// tensor alive (a failed load frees what it allocated).
/// </summary>
public class ModelLoadFuzzTests(ITestOutputHelper output)
{
    private static readonly Gen<Edit> ByteEdit =
        from kind in Gen.Elements(EditKind.FlipBit, EditKind.Truncate, EditKind.OverwriteHeaderByte, EditKind.HeaderLength, EditKind.AppendJunk)
        from a in Gen.Choose(0, 1 << 20)
        from b in Gen.Choose(0, 1 << 20)
        select new Edit(kind, a, b);

    private static readonly Gen<LoadCase> Cases =
        from layout in Gen.Elements(Layout.LLaDA, Layout.Dream)
        from file in Gen.Frequency(
            (4, Gen.Constant(ModelConfig.FileName)), (3, Gen.Constant(SafetensorsReader.SingleFileName)),
            (2, Gen.Constant(TextTokenizer.FileName)), (1, Gen.Constant(TextTokenizer.ConfigFileName)))
        from configEdits in Gen.Choose(1, 2).SelectMany(n => ConfigFuzzTests.AnyEdit.ArrayOf(n))
        from byteEdits in Gen.Choose(1, 2).SelectMany(n => ByteEdit.ArrayOf(n))
        select new LoadCase(layout, file, configEdits, byteEdits);

    private static readonly ModelSizes Sizes = new() { HiddenSize = 16, Layers = 1, Heads = 2, IntermediateSize = 16, MaxSequenceLength = 64 };

    /// <summary>Byte edits of a file: the safetensors edits apply to any file (the header ones only where it has one).</summary>
    private static byte[] EditBytes(byte[] bytes, Edit[] edits)
    {
        foreach (var e in edits)
        {
            if (bytes.Length == 0) break;
            switch (e.Kind)
            {
                case EditKind.FlipBit: bytes[e.A % bytes.Length] ^= (byte)(1 << (e.B % 8)); break;
                case EditKind.Truncate: bytes = bytes[..(e.A % bytes.Length)]; break;
                case EditKind.OverwriteHeaderByte: bytes[e.A % Math.Min(bytes.Length, 4096)] = (byte)"{}[],:\"0123456789-e"[e.B % 19]; break;
                case EditKind.HeaderLength when bytes.Length >= 8: BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)(e.B % 3 == 0 ? 1L << 40 : e.A)); break;
                case EditKind.AppendJunk: bytes = [.. bytes, .. new byte[1 + e.B % 64]]; break;
            }
        }
        return bytes;
    }

    [Theory]
    [InlineData(Layout.LLaDA, "n_layers")]
    [InlineData(Layout.Dream, "num_hidden_layers")]
    public void A_config_claiming_billions_of_layers_is_refused_without_building_a_spec_per_layer(Layout layout, string key)
    {
        // Found by the fuzz test: the process died (out of memory) building 2^31-1 layers' tensor specs.
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout, sizes: Sizes);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File(ModelConfig.FileName)))!;
        config[key] = int.MaxValue;
        File.WriteAllText(dir.File(ModelConfig.FileName), config.ToJsonString());
        var (error, allocated) = Fuzz.Measure(() => DiffusionModel.Load(dir.Path).Dispose());
        var e = Assert.IsType<CheckpointException>(error);
        Assert.Contains("missing", e.Message);
        Assert.Contains(".1.", e.Tensor); // layer 1: the file holds one layer
        Assert.True(allocated < 64L << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void A_checkpoint_with_one_file_edited_loads_into_a_working_model_or_throws_the_typed_error_of_that_file_and_leaks_nothing()
    {
        using var root = new TempDir();
        var originals = new Dictionary<Layout, string>();
        foreach (var layout in new[] { Layout.LLaDA, Layout.Dream })
        {
            originals[layout] = root.Sub(layout.ToString());
            TestModels.Write(originals[layout], layout, sizes: Sizes);
        }
        var tally = new Dictionary<string, int>();
        var caseNumber = 0;
        Fuzz.Check(Cases, Fuzz.Cases(400), c =>
        {
            var dir = root.Sub($"c{caseNumber++}");
            try
            {
                foreach (var f in Directory.GetFiles(originals[c.Layout])) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
                var path = Path.Combine(dir, c.File);
                File.WriteAllBytes(path, c.File == ModelConfig.FileName
                    ? ConfigFuzzTests.Build(new ConfigCase(ModelConfig.Load(dir), c.ConfigEdits))
                    : EditBytes(File.ReadAllBytes(path), c.ByteEdits));

                var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
                DiffusionModel? model = null;
                var (error, _) = Fuzz.Measure(() => model = DiffusionModel.Load(dir));
                if (error is not null)
                {
                    if (error is not (CheckpointException or ModelConfigException or TokenizerException))
                        throw new Exception($"expected a typed load error, got {error.GetType().Name}: {error.Message}", error);
                    if (!error.Message.StartsWith(dir, StringComparison.Ordinal))
                        throw new Exception($"the error does not name a file of the checkpoint: {error.Message}");
                    if (DisposeScopeManager.Statistics.ThreadTotalLiveCount != live)
                        throw new Exception($"a failed load left {DisposeScopeManager.Statistics.ThreadTotalLiveCount - live} tensors alive: {error.Message}");
                    return $"{c.File} refused ({error.GetType().Name})";
                }
                using (model)
                {
                    // Accepted: the forward pass runs and gives finite logits of the configured width.
                    var t = Math.Min(4, model!.Config.MaxSequenceLength);
                    using var ids = torch.tensor(Enumerable.Range(0, t).Select(i => (long)(i % model.Config.VocabSize)).ToArray(), [1, t]);
                    using var logits = model.Forward(ids, null, 0, t);
                    if (!logits.shape.SequenceEqual(new long[] { 1, t, model.Config.VocabSize }))
                        throw new Exception($"the loaded model's logits are [{string.Join(", ", logits.shape)}]");
                    // A bit flipped in the weights' data is a valid file with other weights (maybe inf); the rest must stay finite.
                    using var finite = logits.isfinite().all();
                    if (c.File != SafetensorsReader.SingleFileName && !finite.item<bool>())
                        throw new Exception("the loaded model's logits are not finite");
                }
                return $"{c.File} accepted";
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }, tally);
        output.WriteLine("model load: " + Fuzz.Summary(tally));
        Assert.Contains(tally.Keys, k => k.EndsWith("accepted", StringComparison.Ordinal));
        Assert.Contains(tally.Keys, k => k.Contains("refused (CheckpointException)", StringComparison.Ordinal));
        Assert.Contains(tally.Keys, k => k.Contains("refused (ModelConfigException)", StringComparison.Ordinal));
    }
}
