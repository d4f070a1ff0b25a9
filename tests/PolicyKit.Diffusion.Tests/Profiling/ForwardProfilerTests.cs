using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Profiling;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Profiling;

public class ForwardProfilerTests
{
    private static readonly PolicyCatalog Catalog = PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance);

    [Fact]
    public void Native_calls_count_the_tensors_an_op_returns_and_not_in_place_ops()
    {
        using var a = torch.zeros(4);
        long before = ForwardProfiler.NativeCalls;
        using (var b = a + 1) b.add_(1);  // one new tensor; add_ returns its receiver
        Assert.Equal(1, ForwardProfiler.NativeCalls - before);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("dllm-cache")]
    [InlineData("fast-dllm-dual")]
    public void A_profiled_generation_gives_the_same_tokens_and_accounts_for_every_layer_and_step(string policy)
    {
        using var dir = new TempDir();
        var config = TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new SamplerOptions { GenLength = 8, Steps = 8, BlockLength = 4 };
        int[] prompt = TestModels.RandomIds(3, 12, model.Tokenizer.VocabularySize - 8).Select(x => (int)x).ToArray();

        var plain = new TextGenerator(model).GenerateIds([prompt], options, Catalog.Create(policy))[0];
        var profiler = new ForwardProfiler();
        var profiled = new TextGenerator(model) { Profiler = profiler }.GenerateIds([prompt], options, Catalog.Create(policy))[0];

        Assert.Equal(plain.TokenIds, profiled.TokenIds);
        Assert.Equal(1, profiler.Generations);
        Assert.Equal(profiled.Steps, profiler.Forwards);
        Assert.Equal(profiled.Steps * config.NumLayers, profiler.Layers.Values.Sum(l => l.Count));
        Assert.All(profiler.LayersByIndex.Values, l => Assert.Equal(profiled.Steps, l.Count));
        Assert.Equal(config.NumLayers, profiler.LayersByIndex.Count);
        if (policy == "none") Assert.Equal([LayerKind.Full], profiler.Layers.Keys);
        else Assert.Contains(LayerKind.Partial, profiler.Layers.Keys);

        // The parts nest: layers and head inside the forwards, the forwards inside the generation.
        Assert.True(profiler.Layers[LayerKind.Full].Mean().Calls > 0);
        Assert.True(profiler.LayersTotal.Calls + profiler.Head.Calls <= profiler.Forward.Calls);
        Assert.True(profiler.Forward.Calls <= profiler.Generation.Calls);
        Assert.True(profiler.LayersTotal.Ticks + profiler.Head.Ticks <= profiler.Forward.Ticks);
        Assert.True(profiler.Forward.Ticks <= profiler.Generation.Ticks);
    }
}
