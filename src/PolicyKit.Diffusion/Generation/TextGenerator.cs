using System.Diagnostics;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Profiling;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;

namespace PolicyKit.Diffusion.Generation;

/// <summary>
/// Text in, text out: tokenizes prompts, runs the sampler over the model and decodes the answers.
/// Stateless apart from the shared read-only model, so one instance may serve concurrent callers.
/// </summary>
public sealed class TextGenerator
{
    private readonly DiffusionModel _model;

    public TextGenerator(DiffusionModel model) => _model = model;

    public DiffusionModel Model => _model;

    /// <summary>
    /// Measures every generation of this generator (layers, LM head, sampler; see <see cref="ForwardProfiler"/>), when
    /// set. A profiler is not thread-safe: give a generator with one to a single caller.
    /// </summary>
    public ForwardProfiler? Profiler { get; init; }

    /// <summary>Sampler defaults for the model's family (LLaDA blocks, or Dream's single-block time grid).</summary>
    public SamplerOptions DefaultOptions(int genLength = 64, int steps = 64, int blockLength = 32) =>
        _model.Config.Layout == Layout.Dream
            ? SamplerOptions.Dream(genLength, steps) with { EosTokenId = _model.Tokenizer.EosTokenId }
            : SamplerOptions.Llada with { GenLength = genLength, Steps = steps, BlockLength = Math.Min(blockLength, genLength), EosTokenId = _model.Tokenizer.EosTokenId };

    public GenerationResult Generate(string prompt, SamplerOptions options, ICachePolicy? policy = null, CancellationToken cancellationToken = default) =>
        Generate([prompt], options, policy, cancellationToken)[0];

    /// <summary>Generates for a batch of prompts in one sampler run (rows are left-padded).</summary>
    public IReadOnlyList<GenerationResult> Generate(
        IReadOnlyList<string> prompts, SamplerOptions options, ICachePolicy? policy = null,
        CancellationToken cancellationToken = default, Action<SamplerStepReport>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var ids = prompts.Select(EncodePrompt).ToArray();
        return GenerateIds(ids, options, policy, cancellationToken, onStep);
    }

    /// <summary>Tokenizes a non-empty prompt (its length against the model is checked with the gen length in <see cref="GenerateIds"/>).</summary>
    public int[] EncodePrompt(string prompt)
    {
        if (string.IsNullOrEmpty(prompt)) throw new ArgumentException("The prompt is empty.", nameof(prompt));
        return _model.Tokenizer.Encode(prompt);
    }

    public IReadOnlyList<GenerationResult> GenerateIds(
        IReadOnlyList<int[]> prompts, SamplerOptions options, ICachePolicy? policy = null,
        CancellationToken cancellationToken = default, Action<SamplerStepReport>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        // Checked here, before any work: Max() of no prompts threw InvalidOperationException, and an id outside
        // the vocabulary reached the embedding and failed natively mid-generation.
        if (prompts.Count == 0) throw new ArgumentException("At least one prompt is needed.", nameof(prompts));
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < prompts.Count; i++)
        {
            if (prompts[i] is null || prompts[i].Length == 0) throw new ArgumentException($"Prompt {i} is empty.", nameof(prompts));
            foreach (var id in prompts[i])
                if (id < 0 || id >= vocab)
                    throw new ArgumentException($"Prompt {i} holds token id {id}, outside the model's vocabulary [0, {vocab}).", nameof(prompts));
        }
        EnsureFits(prompts.Max(p => p.Length), options.GenLength);

        var sampler = new DiffusionSampler(options);
        using var denoiser = new ModelDenoiser(_model, policy, Profiler);
        var clock = Stopwatch.StartNew();
        SamplerResult result;
        Profiler?.BeginGeneration();
        using (torch.no_grad())
            result = sampler.Run(denoiser, prompts.Select(p => (IReadOnlyList<int>)p).ToArray(), cancellationToken, onStep);
        Profiler?.EndGeneration();
        clock.Stop();
        long cacheBytes = denoiser.CacheBytes;  // read before the denoiser is disposed with the caches

        return result.ResponseIds
            .Select(ids => new GenerationResult(Decode(ids), ids, result.Steps, clock.Elapsed, denoiser.Flops, policy?.Name ?? "none", denoiser.RecomputeFraction, cacheBytes))
            .ToArray();
    }

    /// <summary>Throws <see cref="ArgumentException"/> when a prompt of <paramref name="promptLength"/> tokens plus the response exceeds the model.</summary>
    public void EnsureFits(int promptLength, int genLength)
    {
        int max = _model.Config.MaxSequenceLength;
        if (promptLength + genLength > max)
            throw new ArgumentException(
                $"prompt ({promptLength} tokens) + gen length ({genLength}) exceeds the model's maximum sequence length {max}.");
    }

    /// <summary>A response's text: its tokens up to the first end-of-sequence token, masks left out.</summary>
    public string Decode(long[] ids)
    {
        int? eos = _model.Tokenizer.EosTokenId;
        int end = eos is int e ? Array.IndexOf(ids, (long)e) : -1;
        var kept = (end >= 0 ? ids[..end] : ids).Select(i => (int)i).Where(i => i != _model.MaskTokenId);
        return _model.Tokenizer.Decode(kept);
    }
}
