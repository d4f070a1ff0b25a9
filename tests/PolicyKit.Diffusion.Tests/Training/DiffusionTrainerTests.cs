using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Training;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests.Training;

public class DiffusionTrainerTests
{
    private static readonly ModelSizes Small = new() { HiddenSize = 32, Layers = 2, Heads = 4, MaxSequenceLength = 64 };

    /// <summary>A copy task: the response repeats the prompt, so a few steps must lower the loss.</summary>
    private static TrainingExample[] Batch(int step, int count = 8)
    {
        var rng = new Random(step);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var prompt = Enumerable.Range(0, 6).Select(_ => 65 + rng.Next(6)).ToArray();
            return new TrainingExample(prompt, prompt);
        }).ToArray();
    }

    private static TrainerOptions Options => new() { TotalSteps = 40, WarmupSteps = 2, LearningRate = 3e-3, Seed = 5 };

    [Fact]
    public void Training_lowers_the_masked_token_loss()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.LLaDA, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var trainer = new DiffusionTrainer(model, Options);
        var losses = Enumerable.Range(0, 40).Select(s => trainer.TrainStep(Batch(s))).ToArray();
        Assert.True(losses[^5..].Average() < 0.7 * losses[..5].Average(), $"first {losses[..5].Average():F3}, last {losses[^5..].Average():F3}");
    }

    /// <summary>
    /// The trainer's loss is LLaDA's masked-token loss on the logits the sampler sees: the inference forward's
    /// logits for the whole sequence, read at the response positions. For a Dream-layout model those come from
    /// the positions one to the left; a trainer that read the unshifted rows trained a misaligned model.
    /// </summary>
    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]
    public void The_loss_is_the_masked_token_loss_of_the_inference_logits(Layout layout)
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, layout, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var trainer = new DiffusionTrainer(model, Options);
        var batch = Batch(0);
        int b = batch.Length, p = batch[0].Prompt.Length, g = batch[0].Response.Length;

        double expected;
        using (var scope = NewDisposeScope())
        {
            var noised = trainer.Noise(batch, trainer.Step);  // what this step's TrainStep draws
            Assert.True(noised.Masked.any().item<bool>());
            var logits = model.Forward(noised.Noisy, null, 0, p + g).narrow(1, p, g).to(ScalarType.Float64);
            var logProbabilities = logits.log_softmax(-1).gather(2, noised.Target.unsqueeze(-1)).squeeze(-1);
            var weighted = -logProbabilities * noised.Masked.to(ScalarType.Float64) / noised.Ratio.to(ScalarType.Float64);
            expected = weighted.sum().item<double>() / (b * g);
        }
        var loss = trainer.TrainStep(batch);
        Assert.True(Math.Abs(loss - expected) < 1e-5 * expected, $"trainer {loss}, masked-token loss of the inference logits {expected}");
    }

    [Fact]
    public void A_resumed_run_ends_with_the_weights_of_an_uninterrupted_one()
    {
        using var straight = new TempDir();
        using var resumed = new TempDir();
        foreach (var d in new[] { straight.Path, resumed.Path }) RandomCheckpoint.Write(d, Layout.LLaDA, Small, seed: 1);

        using (var model = DiffusionModel.Load(straight.Path))
        using (var trainer = new DiffusionTrainer(model, Options))
        {
            for (int s = 0; s < 4; s++) trainer.TrainStep(Batch(s));
            trainer.Save(straight.Path);
        }
        using (var model = DiffusionModel.Load(resumed.Path))
        using (var trainer = new DiffusionTrainer(model, Options))
        {
            for (int s = 0; s < 2; s++) trainer.TrainStep(Batch(s));
            trainer.Save(resumed.Path);
        }
        using (var model = DiffusionModel.Load(resumed.Path))
        using (var trainer = new DiffusionTrainer(model, Options))
        {
            trainer.Resume(resumed.Path);
            Assert.Equal(2, trainer.Step);
            while (trainer.Step < 4) trainer.TrainStep(Batch(trainer.Step));
            trainer.Save(resumed.Path);
        }

        using var a = DiffusionModel.Load(straight.Path);
        using var b = DiffusionModel.Load(resumed.Path);
        var pa = TestModels.Parameters(a);
        foreach (var (name, tensor) in TestModels.Parameters(b))
            Assert.True(TestModels.MaxAbsDiff(pa[name], tensor) < 1e-6, name);
    }
}
