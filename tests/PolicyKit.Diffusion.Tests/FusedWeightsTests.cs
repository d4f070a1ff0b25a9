using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Tests;

/// <summary>
/// Inference runs q/k/v and gate/up as one matmul each over fused weights whose row ranges are the separate
/// parameters; training (autograd on) runs the separate projections. Both must give the same logits, before and
/// after the parameters change in place.
/// </summary>
public class FusedWeightsTests
{
    private const double Tolerance = 1e-5;

    /// <summary>Logits through the fused weights (inference: no autograd) and through the separate projections (autograd on).</summary>
    private static (Tensor Fused, Tensor Separate) BothForwards(DiffusionModel model, Tensor ids, Tensor? mask = null)
    {
        var t = (int)ids.shape[1];
        var fused = model.Forward(ids, mask, 0, t);
        Tensor separate;
        using (torch.enable_grad())
        using (var scope = torch.NewDisposeScope())
            separate = model.Network.Forward(ids, mask, 0, t).detach().MoveToOuterDisposeScope();
        return (fused, separate);
    }

    [Theory]
    [InlineData(Layout.LLaDA)]
    [InlineData(Layout.Dream)]  // GQA and q/k/v biases
    public void The_fused_forward_gives_the_logits_of_the_separate_projections(Layout layout)
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, layout);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(1, 12, 200), TestModels.RandomIds(2, 12, 200));
        using var mask = torch.tensor(Enumerable.Range(0, 24).Select(i => i >= 2).ToArray(), [2, 12]);
        var (fused, separate) = BothForwards(model, ids, mask);
        using (fused)
        using (separate)
            Assert.True(TestModels.MaxAbsDiff(fused, separate) < Tolerance, $"max |fused - separate| = {TestModels.MaxAbsDiff(fused, separate)}");
    }

    [Fact]
    public void The_projections_are_row_ranges_of_the_fused_weights()
    {
        using var dir = new TempDir();
        TestModels.Write(dir.Path, Layout.Dream);
        using var model = DiffusionModel.Load(dir.Path);
        var layer = model.Layers[1];
        var qkv = layer.FusedQkvWeight;
        var gateUp = layer.FusedGateUpWeight;
        long q = layer.q_proj.OutFeatures, kv = layer.k_proj.OutFeatures, i = layer.gate_proj.OutFeatures;
        Assert.True(TestModels.Same(qkv.narrow(0, 0, q), layer.q_proj.weight));
        Assert.True(TestModels.Same(qkv.narrow(0, q + kv, kv), layer.v_proj.weight));
        Assert.True(TestModels.Same(gateUp.narrow(0, i, i), layer.up_proj.weight));
        // One storage: a write to a parameter is a write to the fused weight.
        using (torch.no_grad()) layer.k_proj.weight.fill_(0.25);
        Assert.Equal(0.25, qkv.narrow(0, q, kv).mean().item<float>(), 6);
        // Checkpoints and the optimizer see the separate parameters only.
        Assert.DoesNotContain(model.Network.named_parameters(), p => p.name.Contains("fused"));
        Assert.Equal(model.Network.named_parameters().Select(p => p.name).Order(), model.Network.state_dict().Keys.Order());
    }

    /// <summary>After optimizer steps (AdamW updates the parameters in place) inference reads the trained weights, not stale copies.</summary>
    [Fact]
    public void Inference_after_a_training_step_reads_the_trained_weights()
    {
        using var dir = new TempDir();
        RandomCheckpoint.Write(dir.Path, Layout.LLaDA, new ModelSizes { HiddenSize = 32, Layers = 2, Heads = 4, MaxSequenceLength = 64 }, seed: 1);
        using var model = DiffusionModel.Load(dir.Path);
        using var ids = TestModels.Ids(TestModels.RandomIds(3, 12, 200));
        using var before = model.Forward(ids, null, 0, 12);
        using (var trainer = new DiffusionTrainer(model, new TrainerOptions { TotalSteps = 2, WarmupSteps = 0, LearningRate = 1e-2, Seed = 5 }))
        {
            var batch = new[] { new TrainingExample([65, 66, 67, 68], [65, 66, 67, 68]), new TrainingExample([70, 71, 72, 73], [70, 71, 72, 73]) };
            trainer.TrainStep(batch);
            trainer.TrainStep(batch);
        }
        var (fused, separate) = BothForwards(model, ids);
        using (fused)
        using (separate)
        {
            Assert.True(TestModels.MaxAbsDiff(before, fused) > 1e-3, "training changed nothing the fused forward reads");
            Assert.True(TestModels.MaxAbsDiff(fused, separate) < Tolerance, $"max |fused - separate| = {TestModels.MaxAbsDiff(fused, separate)}");
        }
    }
}
