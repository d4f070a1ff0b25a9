using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting;

/// <summary>
/// The DI generator: one shared read-only model (owned by the container), policies resolved by name from the keyed
/// services, and a fresh cache session per request (the engine creates one per generation), so concurrent requests
/// share nothing mutable.
/// </summary>
public sealed class DiffusionGenerator : IDiffusionGenerator
{
    private readonly TextGenerator _text;
    private readonly IServiceProvider _services;
    private readonly string _defaultPolicy;

    public DiffusionGenerator(TextGenerator text, IOptions<PolicyKitOptions> options, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        _text = text;
        _services = services;
        var settings = options.Value;
        _defaultPolicy = settings.DefaultPolicy;
        DefaultOptions = settings.Sampler.ToSamplerOptions(text.Model.Config.Layout, text.Model.Tokenizer.EosTokenId);
        DefaultOptions.Validate();
    }

    public SamplerOptions DefaultOptions { get; }

    public Task<GenerationResult> GenerateAsync(string prompt, string? policy = null, CancellationToken cancellationToken = default) =>
        GenerateAsync(prompt, DefaultOptions, policy, cancellationToken);

    public Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var cachePolicy = Resolve(policy ?? _defaultPolicy);
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled<GenerationResult>(cancellationToken);
        // The step loop is CPU/GPU-bound and synchronous: run it off the caller's thread.
        return Task.Run(() => _text.Generate(prompt, options, cachePolicy, cancellationToken), cancellationToken);
    }

    private ICachePolicy Resolve(string name) =>
        _services.GetKeyedService<ICachePolicy>(name)
        ?? throw new ArgumentException(
            $"Unknown cache policy '{name}'. Known: {string.Join(", ", _services.GetRequiredService<PolicyCatalog>().Names)}.", nameof(name));
}
