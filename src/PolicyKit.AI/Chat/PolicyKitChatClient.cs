using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Hosting;

namespace PolicyKit.AI;

/// <summary>
/// PolicyKit as a Microsoft.Extensions.AI <see cref="IChatClient"/>: the messages go through the
/// <see cref="IChatPromptFormatter"/> (the model's chat template), the prompt is generated under the chosen cache
/// policy, and the answer comes back with its usage (prompt and response tokens) and finish reason.
/// </summary>
/// <remarks>
/// <para><b>Options.</b> <c>MaxOutputTokens</c> is the response length: the engine generates whole blocks, so the gen
/// length is rounded up to the block length and the extra tokens are cut. Without <c>policykit.steps</c> the steps
/// follow the host's steps per token. <c>Temperature</c>, <c>Seed</c> and <c>StopSequences</c> work as usual;
/// <c>AdditionalProperties</c> takes <see cref="PolicyKitChatProperties.Policy"/>, <see cref="PolicyKitChatProperties.Steps"/>,
/// <see cref="PolicyKitChatProperties.BlockLength"/> and <see cref="PolicyKitChatProperties.Threshold"/>. A bad value
/// throws <see cref="ArgumentException"/> naming the option. <c>ModelId</c>, tools, response formats and sampling
/// options the engine has no counterpart for (top-p, penalties) are ignored.</para>
/// <para><b>Streaming.</b> <see cref="GetStreamingResponseAsync"/> yields one update per denoising step, then a last one.
/// An update's text is what became stable in the committed prefix at that step (often nothing: a diffusion model
/// commits tokens anywhere in the active block, and text appears only once everything before it is committed), so
/// concatenating the updates' <c>Text</c> gives exactly the non-streaming answer. Each step's update also carries
/// <see cref="PolicyKitChatProperties.Step"/>, <see cref="PolicyKitChatProperties.Committed"/>,
/// <see cref="PolicyKitChatProperties.State"/> and <see cref="PolicyKitChatProperties.Provisional"/> in its
/// <c>AdditionalProperties</c>, so a UI can draw the unmasking. The last update carries the rest of the text, the
/// finish reason, a <see cref="UsageContent"/>, and the policy, steps and FLOPs as a non-streaming response does.</para>
/// </remarks>
public sealed class PolicyKitChatClient : IChatClient
{
    /// <summary>The provider name in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "policykit";

    private readonly IDiffusionGenerator _generator;
    private readonly IChatPromptFormatter _formatter;
    private readonly string? _policy;
    private readonly ChatClientMetadata _metadata;

    /// <param name="generator">The engine (from DI: <c>AddPolicyKit(...)</c>).</param>
    /// <param name="formatter">The chat template; <see cref="PlainChatPromptFormatter"/> when null.</param>
    /// <param name="policy">The policy of requests that name none; the generator's default when null.</param>
    /// <param name="modelId">The model's name for <see cref="ChatClientMetadata.DefaultModelId"/> and responses.</param>
    public PolicyKitChatClient(IDiffusionGenerator generator, IChatPromptFormatter? formatter = null, string? policy = null, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        _generator = generator;
        _formatter = formatter ?? PlainChatPromptFormatter.Instance;
        _policy = policy;
        _metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: modelId);
    }

    /// <summary>The policy requests run under when they name none.</summary>
    public string Policy => _policy ?? _generator.DefaultPolicy;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var result = await Start(request, onStep: null, cancellationToken).ConfigureAwait(false);
        var text = request.NewText();
        var answer = text.Complete(result.TokenIds.ToArray());
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, answer) { MessageId = request.MessageId })
        {
            ResponseId = request.ResponseId,
            ModelId = _metadata.DefaultModelId,
            CreatedAt = request.CreatedAt,
            FinishReason = text.FinishReason,
            Usage = Usage(request, text),
            AdditionalProperties = Outcome(result),
        };
        return response;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var text = request.NewText();
        // The engine reports on its own thread; the reports wait here for the consumer (each is one row's tokens).
        var steps = Channel.CreateUnbounded<SamplerStepReport>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        // A consumer that stops reading early stops the generation too (at its next step).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var generation = Start(request, report => steps.Writer.TryWrite(report), stop.Token);
        _ = generation.ContinueWith(done => steps.Writer.TryComplete(done.Exception?.InnerException), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            var model = _generator.Model;
            int length = request.Settings.ResponseLength;
            await foreach (var report in steps.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var piece = text.Advance(report.Tokens[0].AsSpan(report.Step.PromptLength));
                // Once the text has ended there is nothing tentative left to show.
                var (state, committed, provisional) = StepState.Describe(report, length, text.FinishReason is null ? text.Consumed : length,
                    model.MaskTokenId, request.Settings.Sampler.EosTokenId, model.Tokenizer);
                var update = NewUpdate(request, piece);
                update.AdditionalProperties = new AdditionalPropertiesDictionary
                {
                    [PolicyKitChatProperties.Step] = report.Step.Step,
                    [PolicyKitChatProperties.Committed] = committed,
                    [PolicyKitChatProperties.State] = state,
                    [PolicyKitChatProperties.Provisional] = provisional,
                };
                yield return update;
            }

            var result = await generation.ConfigureAwait(false);
            var last = NewUpdate(request, text.Complete(result.TokenIds.ToArray()));
            last.FinishReason = text.FinishReason;
            last.Contents.Add(new UsageContent(Usage(request, text)));
            last.AdditionalProperties = Outcome(result);
            yield return last;
        }
        finally
        {
            if (!generation.IsCompleted)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                // Wait for the step loop to let go of its caches before the caller moves on.
                try { await generation.ConfigureAwait(false); }
                catch (OperationCanceledException) { }
            }
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_generator)) return _generator;
        if (serviceType.IsInstanceOfType(_formatter)) return _formatter;
        return null;
    }

    /// <summary>Nothing to release: the model and generator belong to the container.</summary>
    public void Dispose() { }

    private Request Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        var prompt = _formatter.Format(list, addGenerationPrompt: true);
        if (string.IsNullOrEmpty(prompt))
            throw new ArgumentException($"The chat prompt formatter ({_formatter.GetType().Name}) produced an empty prompt.", nameof(messages));
        var model = _generator.Model;
        var settings = ChatRequestSettings.From(options, _generator.DefaultOptions, model.Config.Layout);
        int promptTokens = model.Tokenizer.Encode(prompt).Length;
        return new Request(prompt, settings, promptTokens, model.Tokenizer, model.MaskTokenId,
            "pk-" + Guid.NewGuid().ToString("N"), Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow);
    }

    private Task<GenerationResult> Start(Request request, Action<SamplerStepReport>? onStep, CancellationToken cancellationToken)
    {
        var fromOptions = request.Settings.Policy;
        try
        {
            return _generator.GenerateAsync(request.Prompt, request.Settings.Sampler, fromOptions ?? _policy, onStep, cancellationToken);
        }
        catch (ArgumentException e) when (fromOptions is not null)
        {
            // The only argument left to refuse is the policy (the rest was validated in Prepare): name the option.
            throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{PolicyKitChatProperties.Policy}\"]: {e.Message}", "options", e);
        }
    }

    private static UsageDetails Usage(Request request, CommittedText text) => new()
    {
        InputTokenCount = request.PromptTokens,
        OutputTokenCount = text.OutputTokens,
        TotalTokenCount = request.PromptTokens + text.OutputTokens,
    };

    private static AdditionalPropertiesDictionary Outcome(GenerationResult result) => new()
    {
        [PolicyKitChatProperties.Policy] = result.Policy,
        [PolicyKitChatProperties.Steps] = result.Steps,
        [PolicyKitChatProperties.FlopsExecuted] = result.Flops.Executed,
        [PolicyKitChatProperties.FlopsFull] = result.Flops.Full,
        [PolicyKitChatProperties.RecomputeFraction] = result.RecomputeFraction,
    };

    private ChatResponseUpdate NewUpdate(Request request, string text)
    {
        var update = new ChatResponseUpdate(ChatRole.Assistant, text.Length == 0 ? [] : [new TextContent(text)])
        {
            ResponseId = request.ResponseId,
            MessageId = request.MessageId,
            ModelId = _metadata.DefaultModelId,
            CreatedAt = request.CreatedAt,
        };
        return update;
    }

    private sealed record Request(
        string Prompt, ChatRequestSettings Settings, int PromptTokens, PolicyKit.Diffusion.Tokenization.TextTokenizer Tokenizer, int MaskTokenId,
        string ResponseId, string MessageId, DateTimeOffset CreatedAt)
    {
        public CommittedText NewText() =>
            new(Tokenizer, Settings.Sampler.EosTokenId, MaskTokenId, Settings.ResponseLength, Settings.StopSequences);
    }
}
