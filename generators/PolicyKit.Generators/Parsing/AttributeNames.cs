namespace PolicyKit.Generators.Parsing;

/// <summary>Metadata names of the PolicyKit attributes the generator reads.</summary>
internal static class AttributeNames
{
    public const string CachePolicy = "PolicyKit.CachePolicyAttribute";
    public const string PromptRefresh = "PolicyKit.PromptRefreshAttribute";
    public const string ResponseRefresh = "PolicyKit.ResponseRefreshAttribute";
    public const string AdaptiveResponse = "PolicyKit.AdaptiveResponseAttribute";
    public const string AlwaysRefreshLayers = "PolicyKit.AlwaysRefreshLayersAttribute";
    public const string RefreshAllOnBlockStart = "PolicyKit.RefreshAllOnBlockStartAttribute";
    public const string RefreshActiveBlock = "PolicyKit.RefreshActiveBlockAttribute";
    public const string FullRefresh = "PolicyKit.FullRefreshAttribute";
    public const string RefreshStates = "PolicyKit.RefreshStatesAttribute";
    public const string Vicinity = "PolicyKit.VicinityAttribute";
    public const string DropFarSuffix = "PolicyKit.DropFarSuffixAttribute";
    public const string DriftTrigger = "PolicyKit.DriftTriggerAttribute";
    public const string AdaptiveStates = "PolicyKit.AdaptiveStatesAttribute";

    /// <summary>The rule attributes: each is meaningless without <see cref="CachePolicy"/> (PK0011).</summary>
    public static readonly string[] Rules =
    {
        PromptRefresh, ResponseRefresh, AdaptiveResponse, AlwaysRefreshLayers, RefreshAllOnBlockStart, RefreshActiveBlock,
        FullRefresh, RefreshStates, Vicinity, DropFarSuffix, DriftTrigger, AdaptiveStates,
    };

    /// <summary>"PolicyKit.PromptRefreshAttribute" → "PromptRefresh", as users write it.</summary>
    public static string ShortName(string metadataName)
    {
        int dot = metadataName.LastIndexOf('.');
        string name = metadataName.Substring(dot + 1);
        return name.EndsWith("Attribute", System.StringComparison.Ordinal) ? name.Substring(0, name.Length - "Attribute".Length) : name;
    }
}
