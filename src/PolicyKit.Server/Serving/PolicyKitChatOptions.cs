namespace PolicyKit.Server;

/// <summary>
/// The keys under which the server passes PolicyKit's settings to the <c>IChatClient</c> in
/// <c>ChatOptions.AdditionalProperties</c>; each is set only when the request gives it.
/// </summary>
public static class PolicyKitChatOptions
{
    /// <summary>The cache policy's name (string).</summary>
    public const string Policy = "policykit.policy";

    /// <summary>Denoising steps (int).</summary>
    public const string Steps = "policykit.steps";

    /// <summary>Semi-autoregressive block length (int).</summary>
    public const string BlockLength = "policykit.block_length";

    /// <summary>Fast-dLLM threshold decoding at this confidence (double in (0, 1]).</summary>
    public const string Threshold = "policykit.threshold";
}
