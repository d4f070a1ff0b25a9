using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting;

/// <summary>
/// Prompt in, answer out, under a named cache policy. Thread-safe: concurrent requests are batched at step granularity
/// (<c>PolicyKit:Batching</c>), each with its own answer.
/// </summary>
public interface IDiffusionGenerator
{
    /// <summary>The sampler settings of <c>PolicyKit:Sampler</c>, adapted to the model's layout.</summary>
    SamplerOptions DefaultOptions { get; }

    /// <summary>The policy a request without one runs under (<c>PolicyKit:DefaultPolicy</c>).</summary>
    string DefaultPolicy { get; }

    /// <summary>The shared read-only model (its config, tokenizer and mask token); never dispose it.</summary>
    DiffusionModel Model { get; }

    /// <summary>Generates with the configured sampler settings under <paramref name="policy"/> (default: <c>PolicyKit:DefaultPolicy</c>).</summary>
    /// <exception cref="ArgumentException">Empty prompt, unknown policy, or a prompt too long for the model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between steps).</exception>
    /// <exception cref="GenerationQueueFullException">Every batch row is taken and the queue is full (<c>PolicyKit:Batching</c>).</exception>
    Task<GenerationResult> GenerateAsync(string prompt, string? policy = null, CancellationToken cancellationToken = default);

    /// <summary>Generates with explicit sampler options (validated first).</summary>
    Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Generates with explicit sampler options and reports every denoising step to <paramref name="onStep"/> as soon as it
    /// has run, on the generator's scheduler thread (the next step of every running request waits for it, so keep it short). A report holds one row: the
    /// prompt (left part) and response tokens after the step, the columns committed at the step, and the step's
    /// predictions for the active block. The same computation as without <paramref name="onStep"/>: the answer is identical.
    /// </summary>
    Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy, Action<SamplerStepReport>? onStep,
        CancellationToken cancellationToken = default);
}
