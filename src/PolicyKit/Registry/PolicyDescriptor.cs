namespace PolicyKit;

/// <summary>
/// A registered policy: its name and parameters for display, and a factory that builds an instance with the
/// declared defaults or with host overrides. Generated registries hold one per policy of an assembly.
/// </summary>
public sealed class PolicyDescriptor(
    string name,
    string description,
    bool usesCache,
    Type policyType,
    IReadOnlyList<PolicyParameter> parameters,
    Func<IReadOnlyDictionary<string, string>?, ICachePolicy> factory)
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    public bool UsesCache { get; } = usesCache;

    public Type PolicyType { get; } = policyType;

    /// <summary>The declared defaults; <see cref="PolicyParameter.CanOverride"/> marks the keys <see cref="Create(IReadOnlyDictionary{string, string}?)"/> accepts.</summary>
    public IReadOnlyList<PolicyParameter> Parameters { get; } = parameters;

    /// <summary>An instance with the declared defaults.</summary>
    public ICachePolicy Create() => factory(null);

    /// <summary>
    /// An instance whose tunable parameters are replaced by <paramref name="overrides"/> (parameter name → invariant-culture
    /// text, names compared ignoring case). Throws <see cref="ArgumentException"/> for an unknown name or an invalid value.
    /// </summary>
    public ICachePolicy Create(IReadOnlyDictionary<string, string>? overrides) => factory(overrides);

    public override string ToString() => Name;
}

/// <summary>The policies of one assembly. The generator emits one per assembly that declares policies.</summary>
public interface IPolicyRegistry
{
    IReadOnlyList<PolicyDescriptor> Policies { get; }
}

/// <summary>
/// Points at an assembly's generated <see cref="IPolicyRegistry"/>, so <see cref="PolicyCatalog.FromAssemblies"/>
/// can find it. Emitted by the generator; not meant to be written by hand.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class PolicyRegistryAttribute(
    [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)]
    Type registryType) : Attribute
{
    [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)]
    public Type RegistryType { get; } = registryType;
}
