using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace PolicyKit.Hosting;

/// <summary>
/// Returned by <c>AddPolicyKit</c>: adds more policy registries (an application's own generated
/// <c>PolicyKit.Generated.&lt;Assembly&gt;PolicyRegistry</c>) to the catalog and to the keyed services.
/// </summary>
public sealed class PolicyKitBuilder
{
    private readonly PolicyRegistrations _registrations;

    internal PolicyKitBuilder(IServiceCollection services, PolicyRegistrations registrations)
    {
        Services = services;
        _registrations = registrations;
    }

    public IServiceCollection Services { get; }

    /// <summary>
    /// The names of the policies added so far (built-in ones first, then each added registry's), as the keyed
    /// <see cref="ICachePolicy"/> services know them. A policy a host registers by hand is not listed.
    /// </summary>
    public IReadOnlyList<string> PolicyNames =>
        [.. _registrations.Registries.SelectMany(registry => registry.Policies).Select(descriptor => descriptor.Name).Distinct(StringComparer.Ordinal)];

    /// <summary>
    /// Adds every policy of <paramref name="registry"/> as a keyed singleton <see cref="ICachePolicy"/> under its name,
    /// built with the overrides of <c>PolicyKit:Policies:&lt;name&gt;</c>. TryAdd semantics: a name already registered
    /// keeps its registration, so a host replaces a policy by registering its own before (or instead of) this call.
    /// </summary>
    public PolicyKitBuilder AddPolicies(IPolicyRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        // By type: a generated registry is stateless, so the same registry added twice (instance or found by attribute) is one.
        if (_registrations.Registries.Any(known => known.GetType() == registry.GetType()))
            return this;
        _registrations.Registries.Add(registry);
        foreach (var descriptor in registry.Policies)
        {
            var name = descriptor.Name;
            Services.TryAddKeyedSingleton<ICachePolicy>(name, (provider, _) =>
                descriptor.Create(provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value.OverridesFor(name)));
        }
        return this;
    }

    /// <summary>Adds the generated registry of each assembly that has one (found by its <c>[assembly: PolicyRegistry]</c>).</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "The attribute's Type keeps its public constructor.")]
    public PolicyKitBuilder AddPoliciesFromAssemblies(params Assembly[] assemblies)
    {
        ArgumentNullException.ThrowIfNull(assemblies);
        foreach (var assembly in assemblies)
        {
            var attribute = assembly.GetCustomAttribute<PolicyRegistryAttribute>()
                ?? throw new ArgumentException($"Assembly {assembly.GetName().Name} declares no cache policies (it has no generated policy registry).", nameof(assemblies));
            AddPolicies((IPolicyRegistry)Activator.CreateInstance(attribute.RegistryType)!);
        }
        return this;
    }
}

/// <summary>The registries given to <see cref="PolicyKitBuilder"/>; the catalog is built from them when first resolved.</summary>
internal sealed class PolicyRegistrations
{
    public List<IPolicyRegistry> Registries { get; } = [];
}
