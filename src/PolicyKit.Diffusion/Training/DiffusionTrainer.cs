using System.Text.Json;
using System.Text.Json.Serialization;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PolicyKit.Diffusion.Training;

/// <summary>
/// Masked-diffusion training as LLaDA's supervised fine-tuning does it: per sequence a mask ratio
/// <c>t ~ U(ε, 1]</c> (drawn low-discrepancy across the batch), each response token masked with probability <c>t</c>, the prompt never; the loss is the
/// cross-entropy on masked positions weighted by <c>1/t</c>, summed and divided by the response length.
/// With <see cref="TrainingObjective.Autoregressive"/> it is next-token training instead (causal attention, the
/// mean cross-entropy of every response token given those before it), the phase Dream's recipe starts from: a run
/// may switch objectives on resume, as the weights, the optimizer state and the step mean the same under both.
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
        // Unshifted rows predict their own position: under causal attention that token is in view, so it is copied.
        if (options.Objective == TrainingObjective.Autoregressive && !model.Config.ShiftedLogits)
            throw new PolicyKitException($"the autoregressive objective needs a model with shifted logits (Dream layout); this {model.Config.Layout} model's rows predict their own position");
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
        var loss = _options.Objective == TrainingObjective.Autoregressive ? NextTokenLosses(batch).mean() : MaskedDiffusionLoss(batch);

        foreach (var group in _optimizer.ParamGroups) group.LearningRate = _options.LearningRateAt(Step);
        _optimizer.zero_grad();
        loss.backward();
        nn.utils.clip_grad_norm_(_parameters, _options.GradientClip);
        _optimizer.step();
        Step++;
        return loss.item<float>();
    }

    /// <summary>LLaDA's masked-token loss of this step's noise, weighted by 1/t, averaged over the response tokens.</summary>
    private Tensor MaskedDiffusionLoss(IReadOnlyList<TrainingExample> batch)
    {
        var noised = Noise(batch, Step);
        int b = noised.Batch, p = noised.PromptLength, g = noised.ResponseLength;

        // The model's own forward (Dream's logit shift included): row j predicts response position j.
        var logits = _model.Network.Forward(noised.Noisy, null, p, g);
        var ce = nn.functional.cross_entropy(logits.reshape(b * g, -1), noised.Target.reshape(-1), reduction: nn.Reduction.None).view(b, g);
        return (ce * noised.Masked.to(ce.dtype) / noised.Ratio).sum() / (b * g);
    }

    /// <summary>
    /// The next-token cross-entropy of every response token <c>[B, g]</c>: the clean sequence under causal attention,
    /// whose shifted row for response position j sees the prompt and response tokens before j only. Tensors in the
    /// caller's dispose scope.
    /// </summary>
    internal Tensor NextTokenLosses(IReadOnlyList<TrainingExample> batch)
    {
        var (ids, b, p, g) = Ids(batch);
        var logits = _model.Network.Forward(ids, null, p, g, causal: true);
        return nn.functional.cross_entropy(logits.reshape(b * g, -1), ids.narrow(1, p, g).reshape(-1), reduction: nn.Reduction.None).view(b, g);
    }

    /// <summary>
    /// Per example and response token, whether the token is the argmax of its causal row under teacher forcing.
    /// Greedy next-token decoding writes exactly the response's first k tokens when the first k are right (each token
    /// it writes is the right one, so the next row sees the same prefix).
    /// </summary>
    public bool[][] GreedyTokenMatches(IReadOnlyList<TrainingExample> batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (ids, b, p, g) = Ids(batch);
        var logits = _model.Network.Forward(ids, null, p, g, causal: true);
        var right = logits.argmax(-1).eq(ids.narrow(1, p, g)).cpu().data<bool>().ToArray();
        return Enumerable.Range(0, b).Select(i => right[(i * g)..((i + 1) * g)]).ToArray();
    }

    /// <summary>The batch as one <c>[B, T]</c> id tensor on the model's device, checked to be of one shape.</summary>
    private (Tensor Ids, int Batch, int PromptLength, int ResponseLength) Ids(IReadOnlyList<TrainingExample> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("a training batch needs at least one example", nameof(batch));
        int b = batch.Count, p = batch[0].Prompt.Length, g = batch[0].Response.Length;
        if (batch.Any(e => e.Prompt.Length != p || e.Response.Length != g))
            throw new ArgumentException("a training batch must hold examples of one prompt and one response length", nameof(batch));
        if (g == 0) throw new ArgumentException("a training example needs a response to learn", nameof(batch));
        var flat = batch.SelectMany(e => e.Prompt.Concat(e.Response)).Select(x => (long)x).ToArray();
        return (tensor(flat, [b, p + g], device: _model.Device), b, p, g);
    }

    /// <summary>
    /// The noise <see cref="TrainStep"/> applies at optimizer step <paramref name="step"/>, drawn from (seed, step):
    /// the token ids, the noisy ids (masked response tokens replaced by the mask id), the response targets, which
    /// response tokens are masked and each sequence's mask ratio. Tensors in the caller's dispose scope.
    /// </summary>
    internal NoisedBatch Noise(IReadOnlyList<TrainingExample> batch, int step)
    {
        var (ids, b, p, g) = Ids(batch);
        using var generator = new Generator((ulong)(_options.Seed * 1_000_003L + step));

        var ratio = MaskRatios(b, generator);
        var masked = rand(new long[] { b, g }, generator: generator).lt(ratio);
        if (_options.SuffixMaskShare > 0) (masked, ratio) = WithSuffixMasks(masked, ratio, g, generator);
        ratio = ratio.to(_model.Device);
        masked = masked.to(_model.Device);
        var noisy = ids.clone();
        noisy.narrow(1, p, g).masked_fill_(masked, _model.MaskTokenId);
        return new NoisedBatch(noisy, ids.narrow(1, p, g), masked, ratio, b, p, g);
    }

    /// <summary>
    /// Replaces the masks of a <see cref="TrainerOptions.SuffixMaskShare"/> share of the sequences (drawn per sequence)
    /// by a suffix of the response: the last <c>max(1, round(t·g))</c> tokens, so the ratio the loss divides by is the
    /// masked share itself. Those are the states a sampler meets when it unmasks left to right, each token's left
    /// neighbours known, which an autoregressively pre-trained model already answers.
    /// </summary>
    private (Tensor Masked, Tensor Ratio) WithSuffixMasks(Tensor masked, Tensor ratio, int g, Generator generator)
    {
        var suffix = rand(new long[] { masked.shape[0], 1 }, generator: generator).lt(_options.SuffixMaskShare);
        var count = ratio.mul(g).round().clamp(1, g);
        var position = arange(g, ScalarType.Float32).unsqueeze(0);
        var suffixMask = position.ge(count.neg().add(g));
        return (where(suffix, suffixMask, masked), where(suffix, count.div(g), ratio));
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
        File.WriteAllText(Path.Combine(directory, StateFileName), JsonSerializer.Serialize(new TrainerState(Step, _options.Seed, _options.Objective)));
    }

    /// <summary>
    /// Restores the optimizer state and step written by <see cref="Save"/> (the weights come with the model) and
    /// returns the objective the run was trained with so far. A run may resume under the other objective (Dream's
    /// recipe: autoregressive first, then masked diffusion): the AdamW moments are kept, since the parameters and
    /// the scale of their gradients are the same, and the learning-rate schedule goes on from the step.
    /// </summary>
    public TrainingObjective Resume(string directory)
    {
        var statePath = Path.Combine(directory, StateFileName);
        var state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath))
                    ?? throw new PolicyKitException($"{statePath}: empty training state");
        if (state.Seed != _options.Seed)
            throw new PolicyKitException($"{statePath}: the run was started with seed {state.Seed}, not {_options.Seed}");
        _optimizer.load_state_dict(Path.Combine(directory, OptimizerFileName));
        Step = state.Step;
        return state.Objective ?? TrainingObjective.Diffusion;  // written before objectives existed: diffusion
    }

    public void Dispose() => _optimizer.Dispose();

    private sealed record TrainerState(int Step, int Seed, [property: JsonConverter(typeof(JsonStringEnumConverter<TrainingObjective>))] TrainingObjective? Objective = null);
}
