namespace PolicyKit.AI;

/// <summary>
/// The <c>AdditionalProperties</c> keys PolicyKit reads from <see cref="Microsoft.Extensions.AI.ChatOptions"/> and
/// writes on responses and streaming updates. One place for the strings, so every front end (this client, an
/// OpenAI-compatible server) spells them the same.
/// </summary>
public static class PolicyKitChatProperties
{
    /// <summary>Request: the cache policy's name (string), e.g. <c>"dllm-cache"</c>. Response: the policy that ran.</summary>
    public const string Policy = "policykit.policy";

    /// <summary>Request: total denoising steps (positive integer). Response: the steps run.</summary>
    public const string Steps = "policykit.steps";

    /// <summary>Request: the semi-autoregressive block length (positive integer; LLaDA-layout models only).</summary>
    public const string BlockLength = "policykit.block_length";

    /// <summary>Request: Fast-dLLM threshold decoding, committing every masked token above this confidence, in (0, 1].</summary>
    public const string Threshold = "policykit.threshold";

    /// <summary>Streaming update: the 0-based index of the denoising step the update reports (int).</summary>
    public const string Step = "policykit.step";

    /// <summary>Streaming update: how many of the response's positions are committed after the step (int).</summary>
    public const string Committed = "policykit.committed";

    /// <summary>
    /// Streaming update: one character per response position (<c>MaxOutputTokens</c> of them, or the gen length):
    /// <c>C</c> committed, <c>P</c> still masked but predicted at this step (the active block), <c>M</c> masked.
    /// </summary>
    public const string State = "policykit.state";

    /// <summary>
    /// Streaming update: the tentative continuation of the committed text: the tokens from the first position not
    /// yet part of the emitted text on, committed ones as they are and masked ones as this step predicted them,
    /// decoded, up to the first <c>M</c> position, an end-of-sequence token or the end of the response.
    /// </summary>
    public const string Provisional = "policykit.provisional";

    /// <summary>Response: FLOPs executed under the policy (double).</summary>
    public const string FlopsExecuted = "policykit.flops.executed";

    /// <summary>Response: FLOPs the uncached model would have executed for the same forwards (double).</summary>
    public const string FlopsFull = "policykit.flops.full";

    /// <summary>Response: the mean share of layer rows recomputed (double, 1 without a cache).</summary>
    public const string RecomputeFraction = "policykit.recompute_fraction";

    /// <summary>The request keys, which are the only <c>policykit.*</c> keys a request may carry.</summary>
    public static IReadOnlyList<string> RequestKeys { get; } = [Policy, Steps, BlockLength, Threshold];
}
