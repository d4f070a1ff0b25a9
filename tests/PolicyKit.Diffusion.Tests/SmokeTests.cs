using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests;

public class SmokeTests
{
    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void RandomCheckpointLoadsAndRuns(Layout layout)
    {
        using var dir = new TempDir();
        var config = RandomCheckpoint.Write(dir.Path, layout, new ModelSizes(), seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        var ids = model.Tokenizer.Encode("the cat is on the mat");
        using var input = torch.tensor(ids.Select(i => (long)i).ToArray()).unsqueeze(0);
        using var logits = model.Forward(input, null, 0, ids.Length);
        Assert.Equal(new long[] { 1, ids.Length, config.VocabSize }, logits.shape);
        Assert.Equal("the cat is on the mat", model.Tokenizer.Decode(ids));
    }
}
