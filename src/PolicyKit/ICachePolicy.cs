namespace PolicyKit;

/// <summary>
/// A cache policy: for every (step, layer) it says which segments to recompute, reuse or partially update.
/// Implementations are generated from attributed <c>partial</c> classes; a hand-written class may implement
/// it too. <see cref="Plan"/> is called once per layer per step and must be pure and allocation-free.
/// </summary>
public interface ICachePolicy
{
    /// <summary>The name the policy is registered and selected under (e.g. <c>dllm-cache</c>).</summary>
    string Name { get; }

    /// <summary>
    /// False for the uncached baseline: the engine then runs the plain forward pass and allocates no caches.
    /// </summary>
    bool UsesCache { get; }

    /// <summary>
    /// Whether any plan of this policy may compare a row's normalised layer input with its cached value
    /// (<see cref="Probe.Input"/>, in an adaptive selector or a drift test). When false the engine keeps no input cache:
    /// a fifth less cache memory and one copy fewer per layer. True, the default, for a policy that cannot say;
    /// a plan that asks for an Input probe from a policy that said false is an error.
    /// </summary>
    bool ComparesInput => true;

    /// <summary>The plan for the layer and step described by <paramref name="context"/>.</summary>
    LayerPlan Plan(in StepContext context);

    /// <summary>The policy's parameters, for display and configuration.</summary>
    IReadOnlyList<PolicyParameter> Parameters { get; }
}

/// <summary>One named parameter of a policy, for display (e.g. <c>PromptRefresh.Every = 100</c>).</summary>
public sealed record PolicyParameter(string Name, string Value, string Description)
{
    /// <summary>
    /// True when a host may replace the value at run time (through a generated policy's <c>Create(overrides)</c>,
    /// keyed by <see cref="Name"/>); false for structural parameters such as layer lists.
    /// </summary>
    public bool CanOverride { get; init; }
}
