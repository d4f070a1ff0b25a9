using PolicyKit.Generated;

namespace PolicyKit.Cli;

/// <summary>The policies the CLI knows: the built-in ones generated into PolicyKit.Policies.</summary>
internal static class Policies
{
    public const string Default = "dllm-cache";

    public static PolicyCatalog Catalog { get; } = PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance);

    /// <summary>The named policy, or an error listing the known names.</summary>
    public static ICachePolicy Create(string name) => Create(name, null);

    /// <summary>
    /// A policy with some parameters overridden, written <c>name:Parameter=value:Parameter=value</c>
    /// (e.g. <c>dllm-cache:AdaptiveResponse.Ratio=1</c>; <c>policykit policies</c> lists the overridable names); a
    /// plain name is the policy with its defaults. Unknown names and invalid values are errors, as in appsettings.json.
    /// </summary>
    public static ICachePolicy FromSpec(string spec)
    {
        var parts = spec.Split(':', StringSplitOptions.TrimEntries);
        if (parts.Length == 1) return Create(spec);
        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parts.Skip(1))
        {
            var equals = part.IndexOf('=');
            if (equals <= 0 || equals == part.Length - 1)
                throw new ArgumentException($"--policies: '{part}' in '{spec}' is not Parameter=value (e.g. dllm-cache:AdaptiveResponse.Ratio=0.5).");
            if (!overrides.TryAdd(part[..equals].Trim(), part[(equals + 1)..].Trim()))
                throw new ArgumentException($"--policies: '{spec}' sets {part[..equals].Trim()} twice.");
        }
        return Create(parts[0], overrides);
    }

    private static ICachePolicy Create(string name, IReadOnlyDictionary<string, string>? overrides) =>
        Catalog.TryGet(name, out var descriptor)
            ? descriptor.Create(overrides)
            : throw new ArgumentException($"--policy: unknown policy '{name}'. Known: {string.Join(", ", Catalog.Names)}.");
}
