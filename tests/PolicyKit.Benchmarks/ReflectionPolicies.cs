using System.Reflection;
using PolicyKit;

namespace PolicyKit.Benchmarks;

/// <summary>
/// The naive alternative to a generator: read a policy class's attributes by reflection once, keep them as rule
/// objects, and interpret them on every Plan call (loops over rules, range checks, virtual dispatch).
/// Same semantics as the generated code; the benchmark setup checks that the plans agree.
/// </summary>
public sealed class ReflectionInterpretedPolicy : ICachePolicy
{
    private readonly int[] _alwaysRefreshLayers;
    private readonly bool _refreshAllOnBlockStart;
    private readonly List<(Range Layers, int Every)> _prompt = [];
    private readonly List<(Range Layers, int Every)> _response = [];
    private readonly List<(Range Layers, SegmentAction Action)> _adaptive = [];
    private readonly List<(Range Layers, bool IncludeSuffix)> _activeBlock = [];

    public ReflectionInterpretedPolicy(Type policyType)
    {
        var policy = policyType.GetCustomAttribute<CachePolicyAttribute>() ?? throw new ArgumentException("Not a cache policy.", nameof(policyType));
        Name = policy.Name + " (reflection)";
        UsesCache = policy.UsesCache;
        _alwaysRefreshLayers = policyType.GetCustomAttribute<AlwaysRefreshLayersAttribute>()?.Layers ?? [];
        _refreshAllOnBlockStart = policyType.GetCustomAttribute<RefreshAllOnBlockStartAttribute>() is not null;
        foreach (var a in policyType.GetCustomAttributes<PromptRefreshAttribute>())
            _prompt.Add((ParseRange(a.Layers), a.Every));
        foreach (var a in policyType.GetCustomAttributes<ResponseRefreshAttribute>())
            _response.Add((ParseRange(a.Layers), a.Every));
        foreach (var a in policyType.GetCustomAttributes<AdaptiveResponseAttribute>())
            _adaptive.Add((ParseRange(a.Layers), a.Threshold != 0 ? SegmentAction.AdaptiveThreshold(a.Threshold, a.Probe) : SegmentAction.AdaptiveRatio(a.Ratio, a.Probe)));
        foreach (var a in policyType.GetCustomAttributes<RefreshActiveBlockAttribute>())
            _activeBlock.Add((ParseRange(a.Layers), a.IncludeSuffix));
    }

    public string Name { get; }

    public bool UsesCache { get; }

    public IReadOnlyList<PolicyParameter> Parameters { get; } = [];

    public LayerPlan Plan(in StepContext context)
    {
        if (context.Step == 0 || !UsesCache || Array.IndexOf(_alwaysRefreshLayers, context.Layer) >= 0 || (_refreshAllOnBlockStart && context.IsBlockStart))
            return LayerPlan.RefreshAll;

        int promptEvery = Find(_prompt, context, StepContext.NeverRefreshed);
        int responseEvery = Find(_response, context, StepContext.NeverRefreshed);
        var between = SegmentAction.Reuse;
        foreach (var (layers, action) in _adaptive)
        {
            if (Contains(layers, context))
                between = action;
        }
        bool refreshBlock = false, refreshSuffix = false;
        foreach (var (layers, includeSuffix) in _activeBlock)
        {
            if (Contains(layers, context))
            {
                refreshBlock = true;
                refreshSuffix |= includeSuffix;
            }
        }

        var actions = new SegmentAction[4];
        foreach (var segment in Enum.GetValues<Segment>())
        {
            int every = segment == Segment.Prompt ? promptEvery : responseEvery;
            var otherwise = segment == Segment.Prompt ? SegmentAction.Reuse : between;
            bool forced = (segment == Segment.ActiveBlock && refreshBlock) || (segment == Segment.ResponseSuffix && refreshSuffix);
            actions[(int)segment] = forced || context.StepsSinceRefresh(segment) >= every ? SegmentAction.Refresh : otherwise;
        }
        return new LayerPlan(actions[0], actions[1], actions[2], actions[3]);
    }

    private static int Find(List<(Range Layers, int Every)> rules, in StepContext context, int fallback)
    {
        foreach (var (layers, every) in rules)
        {
            if (Contains(layers, context))
                return every;
        }
        return fallback;
    }

    private static bool Contains(Range layers, in StepContext context)
    {
        var (offset, length) = layers.GetOffsetAndLength(Math.Max(context.LayerCount, layers.End.IsFromEnd ? 0 : layers.End.Value));
        return context.Layer >= offset && context.Layer < offset + length;
    }

    private static Range ParseRange(string? text)
    {
        if (text is null)
            return Range.All;
        var parts = text.Split("..");
        static Index Bound(string s, Index open) => s.Length == 0 ? open : s[0] == '^' ? Index.FromEnd(int.Parse(s[1..])) : Index.FromStart(int.Parse(s));
        return new Range(Bound(parts[0], Index.Start), Bound(parts[1], Index.End));
    }
}

/// <summary>The most naive form: look the attributes up by reflection on every call.</summary>
public sealed class ReflectionPerCallPolicy(Type policyType) : ICachePolicy
{
    public string Name => policyType.GetCustomAttribute<CachePolicyAttribute>()!.Name + " (reflection per call)";

    public bool UsesCache => true;

    public IReadOnlyList<PolicyParameter> Parameters { get; } = [];

    public LayerPlan Plan(in StepContext context) => new ReflectionInterpretedPolicy(policyType).Plan(in context);
}
