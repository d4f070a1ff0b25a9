using System.Text.Json;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Training;

/// <summary>
/// Masked-diffusion training as LLaDA's supervised fine-tuning does it: per sequence a mask ratio
/// <c>t ~ U(ε, 1]</c> (drawn low-discrepancy across the batch), each response token masked with probability <c>t</c>, the prompt never; the loss is the
/// cross-entropy on masked positions weighted by <c>1/t</c>, summed and divided by the response length.
/// Every step's randomness is drawn from (seed, step), so a resumed run repeats the uninterrupted one.
/// </summary>
public sealed class DiffusionTrainer : IDisposable
{
    public const string StateFileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.bin";
    private const double MinMaskRatio = 1e-3;

    private readonly DiffusionModel _model;
    private readonly TrainerOptions _options;
    private readonly TorchSharp.Modules.AdamW _optimizer;
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;

    public DiffusionTrainer(DiffusionModel model, TrainerOptions options)
    {
        _model = model;
        _options = options;
        _parameters = model.Network.parameters().ToArray();
        foreach (var p in _parameters) p.requires_grad_(true);
        model.Network.train();
        _optimizer = optim.AdamW(_parameters, options.LearningRate, weight_decay: options.WeightDecay);
    }

    /// <summary>Optimizer steps taken so far (restored by <see cref="Resume"/>).</summary>
    public int Step { get; private set; }

    /// <summary>One optimizer step on a batch of equally long examples; returns the loss (before the update).</summary>
    public double TrainStep(IReadOnlyList<TrainingExample> batch)
    {
        using var scope = NewDisposeScope();
        var noised = Noise(batch, Step);
        int b = noised.Batch, p = noised.PromptLength, g = noised.ResponseLength;

        // The model's own forward (Dream's logit shift included): row j predicts response position j.
        var logits = _model.Network.Forward(noised.Noisy, null, p, g);
        var ce = nn.functional.cross_entropy(logits.reshape(b * g, -1), noised.Target.reshape(-1), reduction: nn.Reduction.None).view(b, g);
        var loss = (ce * noised.Masked.to(ce.dtype) / noised.Ratio).sum() / (b * g);

        foreach (var group in _optimizer.ParamGroups) group.LearningRate = _options.LearningRateAt(Step);
        _optimizer.zero_grad();
        loss.backward();
        nn.utils.clip_grad_norm_(_parameters, _options.GradientClip);
        _optimizer.step();
        Step++;
        return loss.item<float>();
    }

    /// <summary>
    /// The noise <see cref="TrainStep"/> applies at optimizer step <paramref name="step"/>, drawn from (seed, step):
    /// the token ids, the noisy ids (masked response tokens replaced by the mask id), the response targets, which
    /// response tokens are masked and each sequence's mask ratio. Tensors in the caller's dispose scope.
    /// </summary>
    internal NoisedBatch Noise(IReadOnlyList<TrainingExample> batch, int step)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("a training batch needs at least one example", nameof(batch));
        int b = batch.Count, p = batch[0].Prompt.Length, g = batch[0].Response.Length, t = p + g;
        if (batch.Any(e => e.Prompt.Length != p || e.Response.Length != g))
            throw new ArgumentException("a training batch must hold examples of one prompt and one response length", nameof(batch));
        if (g == 0) throw new ArgumentException("a training example needs a response to learn", nameof(batch));

        using var generator = new Generator((ulong)(_options.Seed * 1_000_003L + step));
        var flat = batch.SelectMany(e => e.Prompt.Concat(e.Response)).Select(x => (long)x).ToArray();
        var ids = tensor(flat, [b, t], device: _model.Device);

        var ratio = MaskRatios(b, generator).to(_model.Device);
        var masked = rand(new long[] { b, g }, generator: generator).to(_model.Device).lt(ratio);
        var noisy = ids.clone();
        noisy.narrow(1, p, g).masked_fill_(masked, _model.MaskTokenId);
        return new NoisedBatch(noisy, ids.narrow(1, p, g), masked, ratio, b, p, g);
    }

    /// <summary>One batch as <see cref="Noise"/> drew it: <c>Noisy</c> <c>[B, T]</c>, <c>Target</c> and <c>Masked</c> <c>[B, g]</c>, <c>Ratio</c> <c>[B, 1]</c>.</summary>
    internal readonly record struct NoisedBatch(Tensor Noisy, Tensor Target, Tensor Masked, Tensor Ratio, int Batch, int PromptLength, int ResponseLength);

    /// <summary>
    /// One mask ratio per sequence, <c>t ~ U(ε, 1]</c>, drawn low-discrepancy: one uniform offset u and
    /// <c>t_i = ε + (1 - ε)·frac(u + i/B)</c>, so each t is still uniform but a batch covers (0, 1] evenly. With
    /// i.i.d. draws a small batch often holds one tiny t whose 1/t weight dominates the clipped gradient
    /// (the variance problem MDLM's low-discrepancy sampler addresses); the loss stays unbiased.
    /// </summary>
    private static Tensor MaskRatios(int batch, Generator generator)
    {
        var offset = rand(new long[] { 1 }, generator: generator);
        var spread = arange(batch, ScalarType.Float32).div_(batch).unsqueeze(1);
        return (spread + offset).frac() * (1 - MinMaskRatio) + MinMaskRatio;
    }

    /// <summary>
    /// Writes the weights in the model's real checkpoint layout (atomically: a temporary file, then a rename),
    /// the optimizer state and the step, so <see cref="Resume"/> can continue from here.
    /// </summary>
    public void Save(string directory)
    {
        using var scope = NewDisposeScope();
        var byName = _model.Network.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        var tensors = CheckpointLayout.Tensors(_model.Config)
            .Select(spec => new KeyValuePair<string, Tensor>(spec.CheckpointName, byName[spec.ParameterName].detach().cpu()))
            .ToArray();
        var weights = Path.Combine(directory, SafetensorsReader.SingleFileName);
        SafetensorsWriter.Write(weights + ".tmp", tensors, null, new Dictionary<string, string> { ["format"] = "pt" });
        File.Move(weights + ".tmp", weights, overwrite: true);
        _optimizer.save_state_dict(Path.Combine(directory, OptimizerFileName));
        File.WriteAllText(Path.Combine(directory, StateFileName), JsonSerializer.Serialize(new TrainerState(Step, _options.Seed)));
    }

    /// <summary>Restores the optimizer state and step written by <see cref="Save"/> (the weights come with the model).</summary>
    public void Resume(string directory)
    {
        var statePath = Path.Combine(directory, StateFileName);
        var state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath))
                    ?? throw new PolicyKitException($"{statePath}: empty training state");
        if (state.Seed != _options.Seed)
            throw new PolicyKitException($"{statePath}: the run was started with seed {state.Seed}, not {_options.Seed}");
        _optimizer.load_state_dict(Path.Combine(directory, OptimizerFileName));
        Step = state.Step;
    }

    public void Dispose() => _optimizer.Dispose();

    private sealed record TrainerState(int Step, int Seed);
}
