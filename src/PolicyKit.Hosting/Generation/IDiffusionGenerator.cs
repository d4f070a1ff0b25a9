using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting;

/// <summary>Prompt in, answer out, under a named cache policy. Thread-safe: requests may run concurrently.</summary>
public interface IDiffusionGenerator
{
    /// <summary>The sampler settings of <c>PolicyKit:Sampler</c>, adapted to the model's layout.</summary>
    SamplerOptions DefaultOptions { get; }

    /// <summary>Generates with the configured sampler settings under <paramref name="policy"/> (default: <c>PolicyKit:DefaultPolicy</c>).</summary>
    /// <exception cref="ArgumentException">Empty prompt, unknown policy, or a prompt too long for the model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between steps).</exception>
    Task<GenerationResult> GenerateAsync(string prompt, string? policy = null, CancellationToken cancellationToken = default);

    /// <summary>Generates with explicit sampler options (validated first).</summary>
    Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy = null, CancellationToken cancellationToken = default);
}
