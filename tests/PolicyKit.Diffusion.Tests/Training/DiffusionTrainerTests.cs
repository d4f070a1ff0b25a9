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

    /// <summary>
    /// With every sequence drawn as a suffix, each mask is one run to the end of the response, at least one token
    /// long, and the ratio the loss divides by is exactly the masked share; without the option the masks are
    /// LLaDA's i.i.d. ones, and over many sequences some are not suffixes.
    /// </summary>
    [Fact]
    public void Suffix_masks_mask_one_run_to_the_end_and_weigh_it_by_its_length()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.Dream, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var suffixTrainer = new DiffusionTrainer(model, Options with { SuffixMaskShare = 1 });
        using var plainTrainer = new DiffusionTrainer(model, Options);
        int notSuffix = 0;
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            var batch = Batch(step, count: 16);
            int g = batch[0].Response.Length;
            var suffix = suffixTrainer.Noise(batch, step);
            var masked = suffix.Masked.cpu().data<bool>().ToArray();
            var ratio = suffix.Ratio.cpu().data<float>().ToArray();
            for (int i = 0; i < batch.Length; i++)
            {
                var row = masked[(i * g)..((i + 1) * g)];
                int count = row.Count(m => m);
                Assert.InRange(count, 1, g);
                Assert.All(row[(g - count)..], Assert.True);  // the masked tokens are the last `count`
                Assert.Equal((float)count / g, ratio[i], 5);
            }

            var plain = plainTrainer.Noise(batch, step);
            var plainMasked = plain.Masked.cpu().data<bool>().ToArray();
            for (int i = 0; i < batch.Length; i++)
            {
                var row = plainMasked[(i * g)..((i + 1) * g)];
                int count = row.Count(m => m);
                if (!row[(g - count)..].All(m => m)) notSuffix++;
            }
        }
        Assert.True(notSuffix > 0, "i.i.d. masks over 128 sequences were all suffixes");
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

    private static TrainerOptions ArOptions => Options with { Objective = TrainingObjective.Autoregressive };

    [Fact]
    public void Autoregressive_training_lowers_the_next_token_loss_of_a_copy()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.Dream, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var trainer = new DiffusionTrainer(model, ArOptions);
        var losses = Enumerable.Range(0, 40).Select(s => trainer.TrainStep(Batch(s))).ToArray();
        Assert.True(losses[^5..].Average() < 0.5 * losses[..5].Average(), $"first {losses[..5].Average():F3}, last {losses[^5..].Average():F3}");
    }

    /// <summary>Next-token training must not see the token it predicts nor any after it, through either attention or the shift.</summary>
    [Fact]
    public void The_autoregressive_loss_of_a_token_does_not_look_ahead()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.Dream, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var trainer = new DiffusionTrainer(model, ArOptions);
        var batch = Batch(0, count: 1);
        var changed = new TrainingExample(batch[0].Prompt, [.. batch[0].Response[..3], batch[0].Response[3] == 70 ? 71 : 70, .. batch[0].Response[4..]]);
        using var scope = NewDisposeScope();
        var before = trainer.NextTokenLosses(batch)[0];
        var after = trainer.NextTokenLosses([changed])[0];
        Assert.True(TestModels.MaxAbsDiff(before.narrow(0, 0, 3), after.narrow(0, 0, 3)) < 1e-6, "a token before the changed one");
        Assert.True(TestModels.MaxAbsDiff(before.narrow(0, 3, 1), after.narrow(0, 3, 1)) > 1e-4, "the changed token is the target of its own loss");
        Assert.True(TestModels.MaxAbsDiff(before.narrow(0, 4, 2), after.narrow(0, 4, 2)) > 1e-6, "later tokens see the change");
    }

    [Fact]
    public void The_autoregressive_objective_needs_shifted_logits()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.LLaDA, Small, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        var e = Assert.Throws<PolicyKit.Diffusion.PolicyKitException>(() => new DiffusionTrainer(model, ArOptions));
        Assert.Contains("Dream", e.Message);
    }

    /// <summary>Greedy exact match holds for the model's own greedy continuation and for nothing one token away.</summary>
    [Fact]
    public void Every_token_is_right_for_what_greedy_next_token_decoding_writes_and_not_one_token_away()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.Dream, Small, seed: 2);
        using var model = DiffusionModel.Load(dir.Path);
        using var trainer = new DiffusionTrainer(model, ArOptions);
        int[] prompt = [65, 66, 67, 68];
        var decoded = new List<int>();
        using (var scope = NewDisposeScope())
            for (int i = 0; i < 5; i++)
            {
                var ids = tensor(prompt.Concat(decoded).Select(x => (long)x).ToArray(), [1, prompt.Length + decoded.Count]);
                // One more position to read: the shifted row for it is the last token's, which sees the whole prefix.
                var padded = cat([ids, zeros([1, 1], ScalarType.Int64)], 1);
                decoded.Add((int)model.Forward(padded, null, (int)ids.shape[1], 1, causal: true).argmax(-1).item<long>());
            }
        var greedy = new TrainingExample(prompt, [.. decoded]);
        var wrong = new TrainingExample(prompt, [.. decoded[..4], decoded[4] == 70 ? 71 : 70]);
        var shuffled = new TrainingExample(prompt, [decoded[1], decoded[0] == 70 ? 71 : 70, .. decoded[2..]]);
        var matches = trainer.GreedyTokenMatches([greedy, wrong, shuffled]);
        Assert.Equal([true, true, true, true, true], matches[0]);
        Assert.Equal([true, true, true, true, false], matches[1]);
        Assert.Contains(false, matches[2]);
    }

    /// <summary>Dream's recipe: autoregressive first, then the same run resumed under masked diffusion.</summary>
    [Fact]
    public void An_autoregressive_run_resumes_as_diffusion()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.Dream, Small, seed: 1);
        using (var model = DiffusionModel.Load(dir.Path))
        using (var trainer = new DiffusionTrainer(model, ArOptions))
        {
            for (int s = 0; s < 3; s++) trainer.TrainStep(Batch(s));
            trainer.Save(dir.Path);
        }
        Assert.Contains("\"Objective\":\"Autoregressive\"", File.ReadAllText(Path.Combine(dir.Path, DiffusionTrainer.StateFileName)));
        Dictionary<string, Tensor> afterAr;
        using (var model = DiffusionModel.Load(dir.Path))
        {
            afterAr = TestModels.Parameters(model).ToDictionary(x => x.Key, x => x.Value.clone());
            using var trainer = new DiffusionTrainer(model, Options);
            Assert.Equal(TrainingObjective.Autoregressive, trainer.Resume(dir.Path));
            Assert.Equal(3, trainer.Step);
            var loss = trainer.TrainStep(Batch(trainer.Step));
            Assert.True(double.IsFinite(loss) && loss > 0);
            trainer.Save(dir.Path);
        }
        Assert.Contains("\"Objective\":\"Diffusion\"", File.ReadAllText(Path.Combine(dir.Path, DiffusionTrainer.StateFileName)));
        using (var model = DiffusionModel.Load(dir.Path))
        {
            Assert.Contains(TestModels.Parameters(model), x => TestModels.MaxAbsDiff(afterAr[x.Key], x.Value) > 0);
            using var trainer = new DiffusionTrainer(model, Options);
            Assert.Equal(TrainingObjective.Diffusion, trainer.Resume(dir.Path));
            Assert.Equal(4, trainer.Step);
        }
    }
}
