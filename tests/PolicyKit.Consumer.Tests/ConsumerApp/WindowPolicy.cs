using PolicyKit;

namespace ConsumerApp;

/// <summary>A user's policy, compiled by the generator that came with the PolicyKit package.</summary>
[CachePolicy("consumer-window", Description = "Consumer test policy")]
[PromptRefresh(Every = 20)]
[ResponseRefresh(Every = 4)]
[AdaptiveResponse(Ratio = 0.5, Probe = Probe.Key, Layers = "1..")]
public sealed partial class WindowPolicy;
