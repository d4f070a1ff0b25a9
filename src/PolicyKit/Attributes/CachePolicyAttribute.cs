namespace PolicyKit;

/// <summary>
/// Declares a cache policy. Put it on a <c>partial</c> class; the PolicyKit generator implements
/// <see cref="ICachePolicy"/> for the class from this attribute and the rule attributes beside it
/// (<see cref="PromptRefreshAttribute"/>, <see cref="ResponseRefreshAttribute"/>,
/// <see cref="AdaptiveResponseAttribute"/>, <see cref="AlwaysRefreshLayersAttribute"/>,
/// <see cref="RefreshAllOnBlockStartAttribute"/>, <see cref="RefreshActiveBlockAttribute"/>).
/// </summary>
/// <remarks>
/// Semantics of the generated <c>Plan</c>, in order of precedence:
/// <list type="number">
/// <item>Step 0 and a layer named by <see cref="AlwaysRefreshLayersAttribute"/>: <see cref="LayerPlan.RefreshAll"/>.</item>
/// <item><see cref="RefreshAllOnBlockStartAttribute"/> on a step where <see cref="StepContext.IsBlockStart"/>: <see cref="LayerPlan.RefreshAll"/>.</item>
/// <item>Segments named by a <see cref="RefreshActiveBlockAttribute"/> covering the layer: Refresh.</item>
/// <item>Otherwise each segment is Refresh when its <c>StepsSince…Refresh</c> counter reached the interval of the
/// refresh rule covering the layer, else Adaptive when an adaptive rule covers it, else Reuse.</item>
/// <item>A segment whose counter is <see cref="StepContext.NeverRefreshed"/> is always Refresh (there is nothing to reuse).</item>
/// </list>
/// Attribute values are defaults: the generated class has a <c>Create(overrides)</c> factory that replaces the
/// tunable parameters at run time and validates them like the compiler diagnostics do.
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class CachePolicyAttribute(string name) : Attribute
{
    /// <summary>The name the policy is registered under (e.g. <c>dllm-cache</c>). Unique in a compilation.</summary>
    public string Name { get; } = name;

    /// <summary>
    /// False for the uncached baseline: the engine runs the plain forward pass and allocates no caches.
    /// Such a policy may not declare rules (PK0009).
    /// </summary>
    public bool UsesCache { get; set; } = true;

    /// <summary>A one-line description, shown by the registry and the CLI.</summary>
    public string? Description { get; set; }
}
