namespace PolicyKit.Hosting.Tests;

/// <summary>An application's own policy, registered next to the built-in ones.</summary>
[CachePolicy("host-policy", Description = "Test host's policy")]
[PromptRefresh(Every = 10)]
[ResponseRefresh(Every = 2)]
[AdaptiveResponse(Ratio = 0.5, Probe = Probe.Value)]
public sealed partial class HostPolicy;
