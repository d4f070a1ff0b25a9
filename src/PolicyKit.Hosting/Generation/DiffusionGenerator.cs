using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Sampling;
using Tags = PolicyKit.Hosting.PolicyKitTelemetry.Tags;

namespace PolicyKit.Hosting;

/// <summary>
/// The DI generator: one shared read-only model (owned by the container), policies resolved by name from the keyed
/// services, and concurrent requests batched at step granularity (<see cref="StepBatcher"/>, settings
/// <c>PolicyKit:Batching</c>): a request joins the running ones at the next denoising step and leaves when done, with its
/// own answer, its own random stream and the plans of its solo run. Every generation is recorded on the
/// <c>PolicyKit</c> meter and activity source (<see cref="PolicyKitTelemetry"/>).
/// </summary>
public sealed class DiffusionGenerator : IDiffusionGenerator, IDisposable
{
    private readonly TextGenerator _text;
    private readonly IServiceProvider _services;
    private readonly PolicyKitMetrics _metrics;
    private readonly StepBatcher _batcher;

    public DiffusionGenerator(TextGenerator text, IOptions<PolicyKitOptions> options, IServiceProvider services, PolicyKitMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        _text = text;
        _services = services;
        // Outside a container (or an older registration) the generator keeps a meter of its own.
        _metrics = metrics ?? services.GetService<PolicyKitMetrics>() ?? new PolicyKitMetrics();
        var settings = options.Value;
        DefaultPolicy = settings.DefaultPolicy;
        DefaultOptions = settings.Sampler.ToSamplerOptions(text.Model.Config.Layout, text.Model.Tokenizer.EosTokenId);
        DefaultOptions.Validate();
        var batching = settings.Batching ?? new PolicyKitBatchingSettings();
        if (batching.Problems().FirstOrDefault() is { } problem)  // the validator's rule, for a generator built without it
            throw new ArgumentException($"PolicyKit:Batching:{problem}", nameof(options));
        _batcher = new StepBatcher(text, batching);
    }

    public SamplerOptions DefaultOptions { get; }

    public string DefaultPolicy { get; }

    public DiffusionModel Model => _text.Model;

    /// <summary>Requests running now (batch rows), and waiting for a row.</summary>
    public (int Running, int Queued) Load => (_batcher.RunningRows, _batcher.Queued);

    /// <summary>Batches (cohorts of requests stepping together) formed so far, and the most requests one of them held.</summary>
    public (int Cohorts, int LargestCohort) BatchesFormed => _batcher.Formed;

    public Task<GenerationResult> GenerateAsync(string prompt, string? policy = null, CancellationToken cancellationToken = default) =>
        GenerateAsync(prompt, DefaultOptions, policy, null, cancellationToken);

    public Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy = null, CancellationToken cancellationToken = default) =>
        GenerateAsync(prompt, options, policy, null, cancellationToken);

    public Task<GenerationResult> GenerateAsync(string prompt, SamplerOptions options, string? policy, Action<SamplerStepReport>? onStep,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var cachePolicy = Resolve(policy ?? DefaultPolicy);
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled<GenerationResult>(cancellationToken);
        return Run(prompt, options, cachePolicy, onStep, cancellationToken);
    }

    private async Task<GenerationResult> Run(string prompt, SamplerOptions options, ICachePolicy policy, Action<SamplerStepReport>? onStep, CancellationToken cancellationToken)
    {
        var policyTag = new KeyValuePair<string, object?>(Tags.Policy, policy.Name);
        // Started in the caller's context, so the activity is a child of the caller's (e.g. a chat client's span).
        using var activity = PolicyKitTelemetry.ActivitySource.StartActivity(PolicyKitTelemetry.GenerateActivityName, ActivityKind.Internal);
        activity?.SetTag(Tags.Policy, policy.Name);
        activity?.SetTag(Tags.GenLength, options.GenLength);
        activity?.SetTag(Tags.BlockLength, options.BlockLength);
        activity?.SetTag(Tags.RequestedSteps, options.Steps);

        long started = Stopwatch.GetTimestamp(), stepStarted = started;
        // Called on the scheduler's thread after each of this request's steps: a step's time is the time since the
        // request's previous step (the first one's includes the wait for a batch row), the steps of other batches
        // run in between included, as the caller sees it.
        void Step(SamplerStepReport report)
        {
            _metrics.Steps.Add(1, policyTag);
            _metrics.StepDuration.Record(Stopwatch.GetElapsedTime(stepStarted).TotalSeconds, policyTag);
            onStep?.Invoke(report);
            // The listener's own time is not the step's.
            stepStarted = Stopwatch.GetTimestamp();
        }

        try
        {
            var ids = _text.EncodePrompt(prompt);
            _text.EnsureFits(ids.Length, options.GenLength);
            var result = await _batcher.Enqueue(ids, options, policy, Step, cancellationToken).ConfigureAwait(false);
            Record(result, ids.Length, OutputTokens(result, options.EosTokenId), Stopwatch.GetElapsedTime(started), policyTag, activity);
            return result;
        }
        catch (Exception e)
        {
            var error = e is OperationCanceledException ? "cancelled" : e.GetType().FullName;
            _metrics.Generations.Add(1, policyTag, new KeyValuePair<string, object?>(Tags.ErrorType, error));
            activity?.SetTag(Tags.ErrorType, error);
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }

    private void Record(GenerationResult result, int inputTokens, int outputTokens, TimeSpan elapsed, KeyValuePair<string, object?> policyTag, Activity? activity)
    {
        _metrics.Generations.Add(1, policyTag);
        _metrics.TokenUsage.Record(inputTokens, policyTag, new KeyValuePair<string, object?>(Tags.TokenType, "input"));
        _metrics.TokenUsage.Record(outputTokens, policyTag, new KeyValuePair<string, object?>(Tags.TokenType, "output"));
        _metrics.OperationDuration.Record(elapsed.TotalSeconds, policyTag);
        _metrics.FlopsExecuted.Add(result.Flops.Executed, policyTag);
        _metrics.FlopsFull.Add(result.Flops.Full, policyTag);
        _metrics.RowsRecomputed.Record(result.RecomputeFraction, policyTag);
        if (activity is null) return;
        activity.SetTag(Tags.Steps, result.Steps);
        activity.SetTag(Tags.InputTokens, inputTokens);
        activity.SetTag(Tags.OutputTokens, outputTokens);
        activity.SetTag(Tags.FlopsExecuted, result.Flops.Executed);
        activity.SetTag(Tags.FlopsFull, result.Flops.Full);
        activity.SetTag(Tags.RowsRecomputed, result.RecomputeFraction);
    }

    /// <summary>Generated tokens up to the first end-of-sequence token (all of them without one).</summary>
    private static int OutputTokens(GenerationResult result, int? eosTokenId)
    {
        if (eosTokenId is not int eos) return result.TokenIds.Count;
        for (int i = 0; i < result.TokenIds.Count; i++)
            if (result.TokenIds[i] == eos) return i;
        return result.TokenIds.Count;
    }

    /// <summary>Stops the scheduler: requests still running or waiting fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _batcher.Dispose();

    private ICachePolicy Resolve(string name) =>
        _services.GetKeyedService<ICachePolicy>(name)
        ?? throw new ArgumentException(
            $"Unknown cache policy '{name}'. Known: {string.Join(", ", _services.GetRequiredService<PolicyCatalog>().Names)}.", nameof(name));
}
