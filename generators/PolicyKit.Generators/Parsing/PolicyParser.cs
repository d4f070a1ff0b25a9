using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PolicyKit.Generators.Diagnostics;
using PolicyKit.Generators.Emitting;
using PolicyKit.Generators.Model;

namespace PolicyKit.Generators.Parsing;

/// <summary>
/// Turns one <c>[CachePolicy]</c> class into a <see cref="PolicyDeclaration"/>: reads the attributes, validates
/// them and reports problems at the attribute (or attribute argument) that causes them. Symbols and syntax
/// stay inside this class; only plain values leave it.
/// </summary>
internal static class PolicyParser
{
    public static PolicyDeclaration Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var symbol = (INamedTypeSymbol)context.TargetSymbol;
        var policyAttribute = context.Attributes[0];
        var parser = new Reader(cancellationToken);
        return parser.Read(symbol, (TypeDeclarationSyntax)context.TargetNode, policyAttribute);
    }

    /// <summary>Reports PK0011 for rule attributes on a class that has no <c>[CachePolicy]</c>.</summary>
    public static EquatableArray<DiagnosticInfo> FindRulesWithoutPolicy(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == AttributeNames.CachePolicy))
            return EquatableArray<DiagnosticInfo>.Empty;

        var diagnostics = new List<DiagnosticInfo>();
        foreach (var attribute in context.Attributes)
        {
            string kind = AttributeNames.ShortName(attribute.AttributeClass?.ToDisplayString() ?? "");
            diagnostics.Add(DiagnosticInfo.Create(
                PolicyDiagnostics.RuleWithoutCachePolicy, AttributeLocation(attribute, cancellationToken), kind, context.TargetSymbol.Name));
        }
        return diagnostics.ToEquatableArray();
    }

    private static LocationInfo? AttributeLocation(AttributeData attribute, CancellationToken cancellationToken) =>
        LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken));

    private sealed class Reader(CancellationToken cancellationToken)
    {
        private readonly List<DiagnosticInfo> _diagnostics = new();

        // Each rule with the location its range diagnostics point at.
        private readonly List<(IntervalRule Rule, LocationInfo? At)> _promptRules = new();
        private readonly List<(IntervalRule Rule, LocationInfo? At)> _responseRules = new();
        private readonly List<(AdaptiveRule Rule, LocationInfo? At)> _adaptiveRules = new();
        private readonly List<(ActiveBlockRule Rule, LocationInfo? At)> _activeBlockRules = new();
        private readonly List<(string Kind, LocationInfo? At)> _allRules = new();

        public PolicyDeclaration Read(INamedTypeSymbol symbol, TypeDeclarationSyntax declaration, AttributeData policyAttribute)
        {
            var policyLocation = AttributeLocation(policyAttribute, cancellationToken);
            string name = policyAttribute.ConstructorArguments.Length == 1 && policyAttribute.ConstructorArguments[0].Value is string text ? text : "";
            bool usesCache = Named(policyAttribute, "UsesCache") is { Value: bool flag } ? flag : true;
            string description = Named(policyAttribute, "Description") is { Value: string d } ? d : "";

            if (ShapeProblem(symbol, declaration) is { } shapeProblem)
                Report(PolicyDiagnostics.PolicyClassShape, policyLocation, symbol.Name, shapeProblem);
            if (NameProblem(name) is { } nameProblem)
                Report(PolicyDiagnostics.InvalidPolicyName, PositionalArgumentLocation(policyAttribute, 0) ?? policyLocation, name, nameProblem);

            var alwaysRefresh = new SortedSet<int>();
            LocationInfo? alwaysRefreshAt = null;
            bool refreshAllOnBlockStart = false;
            int fullEvery = 0, warmup = 0, states = 0, vicinity = 0, drop = 0;
            LocationInfo? dropAt = null, adaptiveStatesAt = null;
            DriftRule? drift = null;
            LayerRange? statesLayers = LayerRange.AllLayers, vicinityLayers = LayerRange.AllLayers;
            AdaptiveStatesRule? adaptiveStates = null;

            foreach (var attribute in symbol.GetAttributes())
            {
                cancellationToken.ThrowIfCancellationRequested();
                string? metadataName = attribute.AttributeClass?.ToDisplayString();
                switch (metadataName)
                {
                    case AttributeNames.PromptRefresh:
                        ReadInterval(attribute, "PromptRefresh", _promptRules);
                        break;
                    case AttributeNames.ResponseRefresh:
                        ReadInterval(attribute, "ResponseRefresh", _responseRules);
                        break;
                    case AttributeNames.AdaptiveResponse:
                        ReadAdaptive(attribute);
                        break;
                    case AttributeNames.RefreshActiveBlock:
                        if (ReadLayers(attribute) is { } blockLayers)
                        {
                            bool includeSuffix = Named(attribute, "IncludeSuffix") is { Value: true };
                            _activeBlockRules.Add((new ActiveBlockRule(includeSuffix, blockLayers), LayersLocation(attribute)));
                        }
                        break;
                    case AttributeNames.AlwaysRefreshLayers:
                        alwaysRefreshAt = AttributeLocation(attribute, cancellationToken);
                        ReadAlwaysRefresh(attribute, alwaysRefresh);
                        break;
                    case AttributeNames.RefreshAllOnBlockStart:
                        refreshAllOnBlockStart = true;
                        break;
                    case AttributeNames.FullRefresh:
                        ReadFullRefresh(attribute, out fullEvery, out warmup);
                        break;
                    case AttributeNames.RefreshStates:
                        states = ReadStates(attribute);
                        statesLayers = ReadLayers(attribute);
                        break;
                    case AttributeNames.Vicinity:
                        vicinity = ReadWindow(attribute, "Vicinity");
                        vicinityLayers = ReadLayers(attribute);
                        break;
                    case AttributeNames.DropFarSuffix:
                        drop = ReadWindow(attribute, "DropFarSuffix");
                        dropAt = NamedArgumentLocation(attribute, "Window") ?? AttributeLocation(attribute, cancellationToken);
                        break;
                    case AttributeNames.DriftTrigger:
                        drift = ReadDrift(attribute);
                        break;
                    case AttributeNames.AdaptiveStates:
                        adaptiveStates = ReadAdaptiveStates(attribute);
                        adaptiveStatesAt = AttributeLocation(attribute, cancellationToken);
                        break;
                    default:
                        continue;
                }
                _allRules.Add((AttributeNames.ShortName(metadataName), AttributeLocation(attribute, cancellationToken)));
            }

            CheckOverlaps("PromptRefresh", _promptRules.Select(r => (r.Rule.Layers, r.At)));
            CheckOverlaps("ResponseRefresh", _responseRules.Select(r => (r.Rule.Layers, r.At)));
            CheckOverlaps("AdaptiveResponse", _adaptiveRules.Select(r => (r.Rule.Layers, r.At)));
            CheckOverlaps("RefreshActiveBlock", _activeBlockRules.Select(r => (r.Rule.Layers, r.At)));
            CheckConflicts(usesCache, alwaysRefresh);
            if (vicinity > 0 && drop > 0 && vicinity != drop)
                Report(PolicyDiagnostics.WindowMismatch, dropAt, drop.ToString(CultureInfo.InvariantCulture), vicinity.ToString(CultureInfo.InvariantCulture));
            if (adaptiveStates is not null && (adaptiveStates.States & states) != 0)
            {
                Report(PolicyDiagnostics.ConflictingRules, adaptiveStatesAt, "AdaptiveStates", "[RefreshStates]",
                    "both name " + ((adaptiveStates.States & states) == 3 ? "RowStates.Masked and RowStates.JustDecoded" : (adaptiveStates.States & states) == 1 ? "RowStates.Masked" : "RowStates.JustDecoded") + ", so a row in that state would be refreshed and selected at once",
                    "Name each state in one of the two rules.");
            }

            PolicyModel? model = null;
            if (_diagnostics.Count == 0)
            {
                model = new PolicyModel(
                    symbol.ContainingNamespace.IsGlobalNamespace ? null : symbol.ContainingNamespace.ToDisplayString(),
                    symbol.Name,
                    name,
                    description,
                    usesCache,
                    alwaysRefresh.ToEquatableArray(),
                    refreshAllOnBlockStart,
                    _promptRules.Select(r => r.Rule).ToEquatableArray(),
                    _responseRules.Select(r => r.Rule).ToEquatableArray(),
                    _adaptiveRules.Select(r => r.Rule).ToEquatableArray(),
                    _activeBlockRules.Select(r => r.Rule).ToEquatableArray(),
                    new SecondWaveRules(fullEvery, warmup, states, vicinity, drop)
                    {
                        Drift = drift, AdaptiveStates = adaptiveStates,
                        RefreshStatesLayers = statesLayers ?? LayerRange.AllLayers, VicinityLayers = vicinityLayers ?? LayerRange.AllLayers,
                    })
                {
                    // The user's own AdjustPlan (an implementation part in any file of the class) may return any plan.
                    AdjustsPlan = symbol.GetMembers("AdjustPlan").Length > 0,
                };
            }
            return new PolicyDeclaration(name, policyLocation, model, _diagnostics.ToEquatableArray());
        }

        private void ReadInterval(AttributeData attribute, string kind, List<(IntervalRule, LocationInfo?)> rules)
        {
            var every = Named(attribute, "Every");
            int interval = every is { Value: int value } ? value : 0;
            var layers = ReadLayers(attribute);
            if (interval < 1)
            {
                string shown = every is null ? "0 (not set)" : interval.ToString(CultureInfo.InvariantCulture);
                Report(PolicyDiagnostics.IntervalTooSmall, NamedArgumentLocation(attribute, "Every") ?? AttributeLocation(attribute, cancellationToken), kind, shown);
                return;
            }
            if (layers is not null)
                rules.Add((new IntervalRule(interval, layers), LayersLocation(attribute)));
        }

        private void ReadAdaptive(AttributeData attribute)
        {
            var ratio = Named(attribute, "Ratio");
            var threshold = Named(attribute, "Threshold");
            // Enum constants arrive boxed as their underlying type (Probe is a byte).
            int probe = Named(attribute, "Probe") is { Value: { } p } ? System.Convert.ToInt32(p, CultureInfo.InvariantCulture) : 0;
            var layers = ReadLayers(attribute);

            if ((ratio is null) == (threshold is null))
            {
                Report(PolicyDiagnostics.AdaptiveSelector, AttributeLocation(attribute, cancellationToken),
                    ratio is null ? "neither Ratio nor Threshold" : "both Ratio and Threshold");
                return;
            }

            bool usesThreshold = threshold is not null;
            double value = (double)(usesThreshold ? threshold!.Value : ratio!.Value).Value!;
            string shown = value.ToString("R", CultureInfo.InvariantCulture);
            if (!usesThreshold && !(value > 0 && value <= 1))
            {
                Report(PolicyDiagnostics.RatioOutOfRange, NamedArgumentLocation(attribute, "Ratio"), shown);
                return;
            }
            if (usesThreshold && !(value >= -1 && value <= 1))
            {
                Report(PolicyDiagnostics.ThresholdOutOfRange, NamedArgumentLocation(attribute, "Threshold"), shown);
                return;
            }
            if (usesThreshold && probe > 2)
            {
                Report(PolicyDiagnostics.ScoreProbeThreshold, NamedArgumentLocation(attribute, "Threshold"), "AdaptiveResponse", CSharp.ProbeName(probe));
                return;
            }
            if (layers is not null)
                _adaptiveRules.Add((new AdaptiveRule(usesThreshold, value, probe, layers), LayersLocation(attribute)));
        }

        private DriftRule? ReadDrift(AttributeData attribute)
        {
            var threshold = Named(attribute, "Threshold");
            int probe = Named(attribute, "Probe") is { Value: { } p } ? System.Convert.ToInt32(p, CultureInfo.InvariantCulture) : 1;
            var layers = ReadLayers(attribute);
            double value = threshold is { Value: double t } ? t : 0;
            (string Problem, LocationInfo? At)? problem =
                threshold is null ? ("sets no Threshold", null) :
                !(value >= -1 && value <= 1) ? ("Threshold = " + value.ToString("R", CultureInfo.InvariantCulture) + " is not a cosine similarity", NamedArgumentLocation(attribute, "Threshold")) :
                probe > 2 ? ("Probe = Probe." + CSharp.ProbeName(probe) + " is a row score, not a feature with a cached value", NamedArgumentLocation(attribute, "Probe")) : null;
            if (problem is { } found)
            {
                Report(PolicyDiagnostics.InvalidDriftTrigger, found.At ?? AttributeLocation(attribute, cancellationToken), found.Problem);
                return null;
            }
            return layers is null ? null : new DriftRule(value, probe, layers);
        }

        private AdaptiveStatesRule? ReadAdaptiveStates(AttributeData attribute)
        {
            var argument = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0] : default;
            int states = argument.Value is { } v ? System.Convert.ToInt32(v, CultureInfo.InvariantCulture) : 0;
            var ratio = Named(attribute, "Ratio");
            var threshold = Named(attribute, "Threshold");
            int probe = Named(attribute, "Probe") is { Value: { } p } ? System.Convert.ToInt32(p, CultureInfo.InvariantCulture) : 5;
            var layers = ReadLayers(attribute);
            bool usesThreshold = threshold is not null;
            double value = (usesThreshold ? threshold : ratio) is { Value: double d } ? d : 0;
            string shown = value.ToString("R", CultureInfo.InvariantCulture);
            (string Problem, LocationInfo? At)? problem =
                states == 0 || (states & ~3) != 0
                    ? ("names " + (states == 0 ? "no state" : (states & 4) != 0 ? "RowStates.Settled" : "an undefined state (" + states.ToString(CultureInfo.InvariantCulture) + ")"), PositionalArgumentLocation(attribute, 0)) :
                (ratio is null) == (threshold is null) ? ("sets " + (ratio is null ? "neither Ratio nor Threshold" : "both Ratio and Threshold"), null) :
                !usesThreshold && !(value > 0 && value <= 1) ? ("Ratio = " + shown + " is outside (0, 1]", NamedArgumentLocation(attribute, "Ratio")) :
                usesThreshold && !(value >= -1 && value <= 1) ? ("Threshold = " + shown + " is outside [-1, 1]", NamedArgumentLocation(attribute, "Threshold")) :
                null;
            if (problem is { } found)
            {
                Report(PolicyDiagnostics.InvalidAdaptiveStates, found.At ?? AttributeLocation(attribute, cancellationToken), found.Problem);
                return null;
            }
            if (usesThreshold && probe > 2)
            {
                Report(PolicyDiagnostics.ScoreProbeThreshold, NamedArgumentLocation(attribute, "Threshold"), "AdaptiveStates", CSharp.ProbeName(probe));
                return null;
            }
            return layers is null ? null : new AdaptiveStatesRule(states, usesThreshold, value, probe, layers);
        }

        private void ReadFullRefresh(AttributeData attribute, out int every, out int warmup)
        {
            every = Named(attribute, "Every") is { Value: int e } ? e : 0;
            warmup = Named(attribute, "WarmupSteps") is { Value: int w } ? w : 0;
            string? problem =
                every < 0 ? "Every = " + every.ToString(CultureInfo.InvariantCulture) + " is negative" :
                warmup < 0 ? "WarmupSteps = " + warmup.ToString(CultureInfo.InvariantCulture) + " is negative" :
                every == 0 && warmup == 0 ? "sets neither Every nor WarmupSteps" : null;
            if (problem is null) return;
            Report(PolicyDiagnostics.FullRefreshSchedule, AttributeLocation(attribute, cancellationToken), problem);
            every = warmup = 0;
        }

        private int ReadStates(AttributeData attribute)
        {
            // Enum constants arrive boxed as their underlying type (RowStates is a byte). Masked = 1, JustDecoded = 2.
            var argument = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0] : default;
            int states = argument.Value is { } v ? System.Convert.ToInt32(v, CultureInfo.InvariantCulture) : 0;
            if (states != 0 && (states & ~3) == 0) return states;
            string shown = states == 0 ? "no state" : (states & 4) != 0 ? "RowStates.Settled" : "an undefined state (" + states.ToString(CultureInfo.InvariantCulture) + ")";
            Report(PolicyDiagnostics.InvalidRowStates, PositionalArgumentLocation(attribute, 0) ?? AttributeLocation(attribute, cancellationToken), shown);
            return 0;
        }

        private int ReadWindow(AttributeData attribute, string kind)
        {
            var window = Named(attribute, "Window");
            int value = window is { Value: int w } ? w : 0;
            if (value >= 1) return value;
            Report(PolicyDiagnostics.WindowTooSmall, NamedArgumentLocation(attribute, "Window") ?? AttributeLocation(attribute, cancellationToken), kind,
                window is null ? "0 (not set)" : value.ToString(CultureInfo.InvariantCulture));
            return 0;
        }

        private void ReadAlwaysRefresh(AttributeData attribute, SortedSet<int> layers)
        {
            var argument = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0] : default;
            var values = argument.Kind == TypedConstantKind.Array ? argument.Values : default;
            if (values.IsDefaultOrEmpty)
            {
                Report(PolicyDiagnostics.MalformedLayers, AttributeLocation(attribute, cancellationToken),
                    "[AlwaysRefreshLayers()]", "it names no layer; list the layers to refresh, e.g. [AlwaysRefreshLayers(0)]");
                return;
            }
            for (int i = 0; i < values.Length; i++)
            {
                int layer = values[i].Value is int v ? v : -1;
                if (layer < 0 || layer > LayerRanges.MaxLayerIndex)
                {
                    Report(PolicyDiagnostics.MalformedLayers, PositionalArgumentLocation(attribute, i) ?? AttributeLocation(attribute, cancellationToken),
                        "layer index " + layer.ToString(CultureInfo.InvariantCulture),
                        layer < 0 ? "a layer index cannot be negative" : $"it is beyond the largest supported layer index {LayerRanges.MaxLayerIndex}");
                    continue;
                }
                layers.Add(layer);
            }
        }

        /// <summary>The rule's range: every layer when Layers is not set, null (after reporting) when it is invalid.</summary>
        private LayerRange? ReadLayers(AttributeData attribute)
        {
            var layers = Named(attribute, "Layers");
            if (layers is null || layers.Value.Value is null)
                return LayerRange.AllLayers;

            string text = (string)layers.Value.Value!;
            var range = LayerRanges.Parse(text, out string? error);
            if (range is null)
            {
                Report(PolicyDiagnostics.MalformedLayers, LayersLocation(attribute), $"Layers = \"{text}\"", error!);
                return null;
            }
            if (LayerRanges.IsEmptyForEveryLayerCount(range))
            {
                Report(PolicyDiagnostics.EmptyLayerRange, LayersLocation(attribute), range.Text!);
                return null;
            }
            return range;
        }

        private void CheckOverlaps(string kind, IEnumerable<(LayerRange Layers, LocationInfo? At)> rules)
        {
            var list = rules.ToList();
            for (int j = 1; j < list.Count; j++)
            {
                for (int i = 0; i < j; i++)
                {
                    if (LayerRanges.Overlap(list[i].Layers, list[j].Layers, out string where))
                    {
                        Report(PolicyDiagnostics.OverlappingLayerRanges, list[j].At, kind, list[j].Layers.Text ?? "..", list[i].Layers.Text ?? "..", where);
                        break;
                    }
                }
            }
        }

        private void CheckConflicts(bool usesCache, SortedSet<int> alwaysRefresh)
        {
            if (!usesCache)
            {
                foreach (var (kind, at) in _allRules)
                {
                    Report(PolicyDiagnostics.ConflictingRules, at, kind, "UsesCache = false",
                        "a policy without caches recomputes every segment at every layer, so no rule can apply",
                        "Remove the rule, or remove UsesCache = false from [CachePolicy].");
                }
                return;
            }

            if (alwaysRefresh.Count == 0)
                return;
            var ranged = _promptRules.Select(r => ("PromptRefresh", r.Rule.Layers, r.At))
                .Concat(_responseRules.Select(r => ("ResponseRefresh", r.Rule.Layers, r.At)))
                .Concat(_adaptiveRules.Select(r => ("AdaptiveResponse", r.Rule.Layers, r.At)))
                .Concat(_activeBlockRules.Select(r => ("RefreshActiveBlock", r.Rule.Layers, r.At)));
            foreach (var (kind, layers, at) in ranged)
            {
                // Only a bounded, absolute range can lie wholly inside a fixed set of layers.
                if (!layers.IsAbsolute || layers.End is null)
                    continue;
                int start = layers.Start?.Value ?? 0;
                bool shadowed = true;
                for (int layer = start; layer < layers.End.Value && shadowed; layer++)
                    shadowed = alwaysRefresh.Contains(layer);
                if (shadowed)
                {
                    Report(PolicyDiagnostics.ConflictingRules, at, kind, "[AlwaysRefreshLayers]",
                        $"every layer in \"{layers.Text}\" is fully refreshed on every step already, so the rule never applies",
                        "Remove the rule, or take those layers out of [AlwaysRefreshLayers].");
                }
            }
        }

        private LocationInfo? LayersLocation(AttributeData attribute) =>
            NamedArgumentLocation(attribute, "Layers") ?? AttributeLocation(attribute, cancellationToken);

        private LocationInfo? NamedArgumentLocation(AttributeData attribute, string name)
        {
            if (attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax { ArgumentList: { } arguments })
                return null;
            var argument = arguments.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);
            return LocationInfo.From(argument);
        }

        private LocationInfo? PositionalArgumentLocation(AttributeData attribute, int index)
        {
            if (attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax { ArgumentList: { } arguments })
                return null;
            var positional = arguments.Arguments.Where(a => a.NameEquals is null && a.NameColon is null).ToList();
            return index < positional.Count ? LocationInfo.From(positional[index]) : null;
        }

        private void Report(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] args) =>
            _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, args));
    }

    private static TypedConstant? Named(AttributeData attribute, string name)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == name)
                return pair.Value;
        }
        return null;
    }

    private static string? ShapeProblem(INamedTypeSymbol symbol, TypeDeclarationSyntax declaration)
    {
        if (declaration is RecordDeclarationSyntax || symbol.IsRecord)
            return "it is a record";
        if (symbol.TypeKind != TypeKind.Class)
            return "it is not a class";
        if (symbol.ContainingType is not null)
            return $"it is nested in '{symbol.ContainingType.Name}'";
        if (symbol.IsGenericType)
            return "it is generic";
        if (symbol.IsStatic)
            return "it is static";
        if (symbol.IsAbstract)
            return "it is abstract";
        if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            return "it is not declared partial";
        return null;
    }

    private static string? NameProblem(string name)
    {
        if (name.Trim().Length == 0)
            return "it is empty";
        foreach (char c in name)
        {
            bool allowed = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_' or '.';
            if (!allowed)
                return $"'{c}' is not allowed";
        }
        return null;
    }
}
