using PolicyKit.Generated;

namespace PolicyKit.Cli;

/// <summary>The policies the CLI knows: the built-in ones generated into PolicyKit.Policies.</summary>
internal static class Policies
{
    public const string Default = "dllm-cache";

    public static PolicyCatalog Catalog { get; } = PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance);

    /// <summary>The named policy, or an error listing the known names.</summary>
    public static ICachePolicy Create(string name) =>
        Catalog.TryGet(name, out var descriptor)
            ? descriptor.Create()
            : throw new ArgumentException($"--policy: unknown policy '{name}'. Known: {string.Join(", ", Catalog.Names)}.");
}
