namespace PolicyKit.Server;

/// <summary>Settings of the OpenAI-compatible server (the <c>PolicyKit:Server</c> section, or <c>serve</c>'s options).</summary>
public sealed class PolicyKitServerOptions
{
    /// <summary>The id clients name in <c>model</c>; default: the model directory's name (<c>policykit-ref</c>).</summary>
    public string? ModelId { get; set; }

    /// <summary>
    /// Requests admitted at the same time (generating or streaming); the generator batches their steps up to
    /// <c>PolicyKit:Batching:MaxBatchSize</c> rows, so this is at least that to keep the batch full.
    /// </summary>
    public int MaxConcurrentRequests { get; set; } = 16;

    /// <summary>Requests that may wait for a slot; one more is refused with 429.</summary>
    public int MaxQueuedRequests { get; set; } = 64;
}
