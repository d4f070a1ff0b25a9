using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Diffusion.Tests.Caching;

namespace PolicyKit.Diffusion.Tests.Generation;

/// <summary>The family defaults <see cref="TextGenerator.DefaultOptions"/> gives, and what they commit per step.</summary>
public class DefaultOptionsTests
{
    [Fact]
    public void A_dream_model_at_one_token_a_step_commits_exactly_one_token_each_step_in_one_block()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        using var model = DiffusionModel.Load(dir.Path);
        var generator = new TextGenerator(model);

        var options = generator.DefaultOptions(genLength: 8, steps: 8, blockLength: 4);
        Assert.Equal(TransferSchedule.DreamTimeGrid, options.Schedule);
        Assert.Equal(8, options.BlockLength);                          // Dream decodes the answer as one block
        Assert.Equal(ConfidenceKind.NegativeEntropy, options.Confidence);
        var commits = new List<int>();
        generator.Generate(["the cat"], options, onStep: r => commits.Add(r.Committed[0].Length));
        Assert.Equal(Enumerable.Repeat(1, 8), commits);
    }

    [Fact]
    public void A_llada_model_keeps_its_blocks_and_linear_schedule()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.LLaDA);
        using var model = DiffusionModel.Load(dir.Path);
        var options = new TextGenerator(model).DefaultOptions(genLength: 8, steps: 8, blockLength: 4);
        Assert.Equal((TransferSchedule.Linear, 4, ConfidenceKind.Probability), (options.Schedule, options.BlockLength, options.Confidence));
    }
}
