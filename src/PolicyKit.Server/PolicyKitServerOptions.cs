namespace PolicyKit.Server;

/// <summary>Settings of the OpenAI-compatible server (the <c>PolicyKit:Server</c> section, or <c>serve</c>'s options).</summary>
public sealed class PolicyKitServerOptions
{
    /// <summary>The id clients name in <c>model</c>; default: the model directory's name (<c>policykit-ref</c>).</summary>
    public string? ModelId { get; set; }

    /// <summary>Generations that run at the same time; each holds its own cache session.</summary>
    public int MaxConcurrentRequests { get; set; } = 4;

    /// <summary>Requests that may wait for a slot; one more is refused with 429.</summary>
    public int MaxQueuedRequests { get; set; } = 64;
}
