using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace PolicyKit;

/// <summary>
/// The policies a host can choose from, gathered from one or more generated registries (the built-in
/// policies' and the application's own). Names must be unique across the registries.
/// </summary>
public sealed class PolicyCatalog : IReadOnlyList<PolicyDescriptor>
{
    private readonly PolicyDescriptor[] _policies;
    private readonly Dictionary<string, PolicyDescriptor> _byName;

    /// <exception cref="ArgumentException">Two descriptors share a name.</exception>
    public PolicyCatalog(IEnumerable<PolicyDescriptor> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        _policies = policies.ToArray();
        _byName = new Dictionary<string, PolicyDescriptor>(StringComparer.Ordinal);
        foreach (var policy in _policies)
        {
            if (!_byName.TryAdd(policy.Name, policy))
                throw new ArgumentException(
                    $"Two policies are named '{policy.Name}' ({_byName[policy.Name].PolicyType.FullName} and {policy.PolicyType.FullName}). " +
                    "Rename one of them in its [CachePolicy] attribute.", nameof(policies));
        }
    }

    public static PolicyCatalog FromRegistries(params IPolicyRegistry[] registries) =>
        new(registries.SelectMany(registry => registry.Policies));

    /// <summary>The policies of every given assembly that carries a generated <see cref="PolicyRegistryAttribute"/>.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "The attribute's Type keeps its public constructor.")]
    public static PolicyCatalog FromAssemblies(params Assembly[] assemblies)
    {
        var registries = new List<IPolicyRegistry>();
        foreach (var assembly in assemblies)
        {
            if (assembly.GetCustomAttribute<PolicyRegistryAttribute>() is { } attribute)
                registries.Add((IPolicyRegistry)Activator.CreateInstance(attribute.RegistryType)!);
        }
        return FromRegistries([.. registries]);
    }

    public int Count => _policies.Length;

    public PolicyDescriptor this[int index] => _policies[index];

    public IEnumerable<string> Names => _policies.Select(policy => policy.Name);

    public bool TryGet(string name, [NotNullWhen(true)] out PolicyDescriptor? descriptor) =>
        _byName.TryGetValue(name, out descriptor);

    /// <exception cref="KeyNotFoundException">No policy has that name.</exception>
    public PolicyDescriptor Get(string name) => TryGet(name, out var descriptor)
        ? descriptor
        : throw new KeyNotFoundException($"No cache policy is named '{name}'. Known policies: {string.Join(", ", Names)}.");

    /// <summary>A new instance of the named policy, with optional parameter overrides.</summary>
    public ICachePolicy Create(string name, IReadOnlyDictionary<string, string>? overrides = null) => Get(name).Create(overrides);

    public IEnumerator<PolicyDescriptor> GetEnumerator() => ((IEnumerable<PolicyDescriptor>)_policies).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
