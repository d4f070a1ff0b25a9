using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace PolicyKit.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the generator reports. IDs are stable: add new ones at the end and record them in
/// AnalyzerReleases.Unshipped.md. Each message says what is wrong and how to fix it.
/// </summary>
internal static class PolicyDiagnostics
{
    private const string Category = "PolicyKit";

    public static readonly DiagnosticDescriptor PolicyClassShape = Error(
        "PK0001",
        "Cache policy class must be a top-level partial class",
        "Cache policy class '{0}' cannot be generated because {1}. Declare it as a non-static, non-abstract, non-generic, top-level 'partial class {0}'.");

    public static readonly DiagnosticDescriptor IntervalTooSmall = Error(
        "PK0002",
        "Refresh interval must be at least 1",
        "[{0}] Every = {1}, but a refresh interval must be at least 1 forward pass (1 = every step). Set Every to a positive interval, or remove the attribute to compute the segment once and reuse it.");

    public static readonly DiagnosticDescriptor RatioOutOfRange = Error(
        "PK0003",
        "Adaptive ratio must be in (0, 1]",
        "[AdaptiveResponse] Ratio = {0}, but the fraction of response tokens to recompute must be greater than 0 and at most 1. Use a value such as Ratio = 0.25, or remove the attribute to reuse the response.");

    public static readonly DiagnosticDescriptor ThresholdOutOfRange = Error(
        "PK0004",
        "Adaptive similarity threshold must be in [-1, 1]",
        "[AdaptiveResponse] Threshold = {0}, but a cosine-similarity threshold must be between -1 and 1. Use a value such as Threshold = 0.9.");

    public static readonly DiagnosticDescriptor AdaptiveSelector = Error(
        "PK0005",
        "Adaptive rule must set exactly one of Ratio and Threshold",
        "[AdaptiveResponse] sets {0}. Set exactly one: Ratio (the fraction of tokens to recompute) or Threshold (the similarity below which a token is recomputed).");

    public static readonly DiagnosticDescriptor MalformedLayers = Error(
        "PK0006",
        "Malformed layer selection",
        "{0} is not a valid layer selection: {1}. Layer ranges read like C# ranges: \"0..8\", \"8..\", \"..^4\", \"^4..\"; layer indices are 0 or more.");

    public static readonly DiagnosticDescriptor EmptyLayerRange = Error(
        "PK0007",
        "Layer range selects no layer",
        "Layers = \"{0}\" selects no layer whatever the layer count, because its start is never before its end. Write the start first and keep it below the end, e.g. \"0..8\" or \"^4..\".");

    public static readonly DiagnosticDescriptor OverlappingLayerRanges = Error(
        "PK0008",
        "Layer ranges of one rule kind overlap",
        "[{0}] Layers = \"{1}\" overlaps [{0}] Layers = \"{2}\" ({3}), so two {0} rules would apply to the same layer. Make the ranges disjoint, e.g. \"0..8\" and \"8..\".");

    public static readonly DiagnosticDescriptor ConflictingRules = Error(
        "PK0009",
        "Conflicting rules for the same segment and layer",
        "[{0}] conflicts with {1}: {2}. {3}");

    public static readonly DiagnosticDescriptor DuplicatePolicyName = Error(
        "PK0010",
        "Duplicate cache policy name",
        "The cache policy name '{0}' is already used by '{1}' in this compilation. Give each [CachePolicy] a unique name.");

    public static readonly DiagnosticDescriptor RuleWithoutCachePolicy = Error(
        "PK0011",
        "Policy rule on a class without [CachePolicy]",
        "[{0}] on '{1}' has no effect because '{1}' has no [CachePolicy(\"name\")] attribute. Add [CachePolicy(\"name\")] to declare the policy, or remove [{0}].");

    public static readonly DiagnosticDescriptor InvalidPolicyName = Error(
        "PK0012",
        "Invalid cache policy name",
        "The cache policy name \"{0}\" is invalid: {1}. Use a short name of letters, digits, '-', '_' or '.', such as \"my-policy\".");

    public static readonly DiagnosticDescriptor FullRefreshSchedule = Error(
        "PK0013",
        "Full refresh needs a schedule",
        "[FullRefresh] {0}, but a full refresh needs Every (an interval in forward passes) or WarmupSteps (forward passes at each block start), each at least 1. Set e.g. Every = 8 or WarmupSteps = 2.");

    public static readonly DiagnosticDescriptor InvalidRowStates = Error(
        "PK0014",
        "Refreshed row states must be Masked and/or JustDecoded",
        "[RefreshStates] names {0}, but only RowStates.Masked and RowStates.JustDecoded can be refreshed by state (settled rows are what a cache reuses; refresh them with the segment rules). Use e.g. [RefreshStates(RowStates.Masked | RowStates.JustDecoded)].");

    public static readonly DiagnosticDescriptor WindowTooSmall = Error(
        "PK0015",
        "Window must be at least 1 position",
        "[{0}] Window = {1}, but a window around the active block must be at least 1 position. Set e.g. Window = 16, or remove the attribute.");

    public static readonly DiagnosticDescriptor WindowMismatch = Error(
        "PK0016",
        "Vicinity and far-suffix windows differ",
        "[DropFarSuffix] Window = {0} differs from [Vicinity] Window = {1}, but a plan has one window: the vicinity is the rows within it, the far suffix the rows beyond it. Give both the same Window.");

    public static readonly DiagnosticDescriptor ScoreProbeThreshold = Error(
        "PK0017",
        "A row-score probe ranks with a ratio, not a threshold",
        "[{0}] ranks rows by Probe.{1} with a Threshold, but a threshold is a cosine similarity and only Value, Key and Input are compared with a cached value. Use Ratio (e.g. Ratio = 0.25), or a similarity probe.");

    public static readonly DiagnosticDescriptor InvalidDriftTrigger = Error(
        "PK0018",
        "Invalid drift trigger",
        "[DriftTrigger] {0}. The test compares the most-attended row's Value, Key or Input with its cached value and fires below a cosine similarity in [-1, 1]: write e.g. [DriftTrigger(Threshold = 0.9, Probe = Probe.Key)].");

    public static readonly DiagnosticDescriptor InvalidAdaptiveStates = Error(
        "PK0019",
        "Invalid adaptive decode-state rule",
        "[AdaptiveStates] {0}. Name RowStates.Masked and/or RowStates.JustDecoded and set exactly one of Ratio in (0, 1] or Threshold in [-1, 1]: write e.g. [AdaptiveStates(RowStates.Masked, Ratio = 0.5, Probe = Probe.CertaintyPrior)].");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = Index(
        PolicyClassShape, IntervalTooSmall, RatioOutOfRange, ThresholdOutOfRange, AdaptiveSelector, MalformedLayers,
        EmptyLayerRange, OverlappingLayerRanges, ConflictingRules, DuplicatePolicyName, RuleWithoutCachePolicy, InvalidPolicyName,
        FullRefreshSchedule, InvalidRowStates, WindowTooSmall, WindowMismatch, ScoreProbeThreshold, InvalidDriftTrigger, InvalidAdaptiveStates);

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    public static Diagnostic ToDiagnostic(Model.DiagnosticInfo info)
    {
        var args = new object[info.MessageArgs.Count];
        for (int i = 0; i < args.Length; i++)
            args[i] = info.MessageArgs[i];
        return Diagnostic.Create(s_byId[info.Id], info.Location?.ToLocation(), args);
    }

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    private static Dictionary<string, DiagnosticDescriptor> Index(params DiagnosticDescriptor[] descriptors)
    {
        var index = new Dictionary<string, DiagnosticDescriptor>();
        foreach (var descriptor in descriptors)
            index.Add(descriptor.Id, descriptor);
        return index;
    }
}
