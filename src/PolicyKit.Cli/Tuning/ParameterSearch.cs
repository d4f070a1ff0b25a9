using System.Globalization;

namespace PolicyKit.Cli.Tuning;

/// <summary>What a parameter's name says about its values (the overrides <see cref="PolicyOverrides"/> validates).</summary>
internal enum ParameterKind
{
    /// <summary><c>*.Every</c>: a refresh interval, an integer of at least 1.</summary>
    Interval,
    /// <summary><c>*.Ratio</c>: a fraction in (0, 1].</summary>
    Ratio,
    /// <summary><c>*.Threshold</c>: a cosine similarity in [-1, 1].</summary>
    Threshold,
    /// <summary><c>*.Probe</c>: Value, Key or Input.</summary>
    Probe,
}

/// <summary>A policy parameter the search may change, with its declared default (invariant-culture text).</summary>
internal sealed record TunableParameter(string Name, ParameterKind Kind, string Default)
{
    /// <summary>The overridable parameters of a policy whose kind the search knows; others are left at their defaults.</summary>
    public static IReadOnlyList<TunableParameter> Of(PolicyDescriptor policy) =>
        policy.Parameters.Where(p => p.CanOverride).Select(p => KindOf(p.Name) is { } kind ? new TunableParameter(p.Name, kind, p.Value) : null)
            .OfType<TunableParameter>().ToArray();

    private static ParameterKind? KindOf(string name) =>
        name.EndsWith(".Every", StringComparison.Ordinal) ? ParameterKind.Interval
        : name.EndsWith(".Ratio", StringComparison.Ordinal) ? ParameterKind.Ratio
        : name.EndsWith(".Threshold", StringComparison.Ordinal) ? ParameterKind.Threshold
        : name.EndsWith(".Probe", StringComparison.Ordinal) ? ParameterKind.Probe
        : null;

    /// <summary>
    /// The coarse grid: intervals and ratios at a quarter, half, the default, twice and (intervals) four times it;
    /// thresholds at 0.8, 0.9, 0.95, 0.99 and the default; every probe. Sorted, the default included. Intervals of
    /// <paramref name="steps"/> or more all mean "never again within a generation" (a counter never reaches them):
    /// only the smallest of them is kept, or the default when it is one of them.
    /// </summary>
    public IReadOnlyList<string> CoarseValues(int? steps = null)
    {
        switch (Kind)
        {
            case ParameterKind.Interval:
            {
                int d = int.Parse(Default, CultureInfo.InvariantCulture);
                var values = new[] { 0.25, 0.5, 1, 2, 4 }.Select(f => Math.Max(1, (int)Math.Round(d * f))).Distinct().Order().ToList();
                if (steps is int n && values.Count(v => v >= n) > 1)
                {
                    int representative = d >= n ? d : values.First(v => v >= n);
                    values.RemoveAll(v => v >= n && v != representative);
                }
                return values.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
            }
            case ParameterKind.Ratio:
            {
                double d = double.Parse(Default, CultureInfo.InvariantCulture);
                return new[] { 0.25, 0.5, 1, 2 }.Select(f => Math.Min(1, Math.Round(d * f, 4))).Distinct().Order().Select(Format).ToArray();
            }
            case ParameterKind.Threshold:
            {
                double d = double.Parse(Default, CultureInfo.InvariantCulture);
                return new[] { 0.8, 0.9, 0.95, 0.99, d }.Distinct().Order().Select(Format).ToArray();
            }
            default:
                return Enum.GetNames<Probe>();
        }
    }

    /// <summary>
    /// The values between <paramref name="value"/> and its neighbours in <paramref name="tried"/> (the midpoint on each
    /// side) and, where <paramref name="value"/> is the smallest or largest tried, one step beyond that edge (half or
    /// twice it; an interval beyond the steps is the steps themselves, "never again"): new values only, intervals whole.
    /// Thresholds get no step beyond their grid, probes no refinement at all.
    /// </summary>
    /// <remarks>With <paramref name="steps"/>, intervals at or above it count as one value (see <see cref="CoarseValues"/>).</remarks>
    public IReadOnlyList<string> Refinements(string value, IReadOnlyCollection<string> tried, int? steps = null)
    {
        if (Kind == ParameterKind.Probe) return [];
        var known = tried.Select(Parse).Append(Parse(value)).Distinct().Order().ToList();
        double v = Parse(value);
        int at = known.IndexOf(v);
        var candidates = new[] { at - 1, at + 1 }.Where(i => i >= 0 && i < known.Count).Select(i => (v + known[i]) / 2).ToList();
        if (Kind != ParameterKind.Threshold)
        {
            if (at == 0) candidates.Add(v / 2);
            if (at == known.Count - 1) candidates.Add(Kind == ParameterKind.Ratio ? Math.Min(1, v * 2) : steps is int n && v * 2 >= n ? n : v * 2);
        }
        bool Never(double x) => Kind == ParameterKind.Interval && steps is int n && x >= n;
        var result = new List<string>();
        foreach (var candidate in candidates.Order())
        {
            string text = Kind == ParameterKind.Interval ? ((int)Math.Round(candidate)).ToString(CultureInfo.InvariantCulture) : Format(Math.Round(candidate, 4));
            double x = Parse(text);
            if (x <= 0 || known.Contains(x) || result.Contains(text) || (Never(x) && known.Any(Never))) continue;
            result.Add(text);
        }
        return result;
    }

    private static double Parse(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static string Format(double x) => x.ToString("0.####", CultureInfo.InvariantCulture);
}

/// <summary>One setting of the tuned parameters: parameter name → invariant-culture value (every tunable parameter set).</summary>
internal sealed record Setting(IReadOnlyDictionary<string, string> Values)
{
    public Setting With(string name, string value) =>
        new(new Dictionary<string, string>(Values, StringComparer.Ordinal) { [name] = value });

    /// <summary>A stable key and label, e.g. <c>PromptRefresh.Every=100 ResponseRefresh.Every=7</c>.</summary>
    public string Key => string.Join(' ', Values.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key}={x.Value}"));

    public override string ToString() => Key;
}

/// <summary>How a setting did on the samples, against <c>none</c> in the same interleaved run.</summary>
/// <param name="Setting">The parameter values.</param>
/// <param name="Speed">The objective, higher is faster: <paramref name="Speedup"/> or <paramref name="FlopsReduction"/>.</param>
/// <param name="Accuracy">Accuracy over every sample, in [0, 1].</param>
/// <param name="Speedup">Wall-clock speedup against <c>none</c> in the same run.</param>
/// <param name="FlopsReduction">FLOPs of <c>none</c> over the setting's.</param>
internal sealed record Evaluation(Setting Setting, double Speed, double Accuracy, double Speedup, double FlopsReduction);

/// <summary>
/// The search of <c>policykit tune</c>: the fastest setting whose accuracy is within a budget of <c>none</c>'s, by
/// coordinate descent from the defaults. A coarse pass tries each parameter's grid with the others at the best setting
/// so far; refinement passes try the midpoints beside each numeric parameter's best value (and one step beyond the
/// grid's edge when the best is at it) until nothing new is left or <see cref="RefinementPasses"/> ran; a last round
/// runs the winner beside the defaults. Each round (one parameter's candidates) is one call of the evaluator, which
/// runs them interleaved with <c>none</c> and the current best, so a round's speeds share the machine's noise.
/// </summary>
/// <param name="parameters">What to tune.</param>
/// <param name="baselineAccuracy"><c>none</c>'s accuracy on the samples.</param>
/// <param name="budgetPoints">Accuracy a setting may lose against <c>none</c>, in percentage points.</param>
/// <param name="steps">The most forward passes a generation runs (null: unknown), which bounds the intervals worth trying.</param>
internal sealed class ParameterSearch(IReadOnlyList<TunableParameter> parameters, double baselineAccuracy, double budgetPoints, int? steps = null)
{
    public const int RefinementPasses = 2;

    private readonly Dictionary<string, Evaluation> _evaluated = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<string>> _tried = new(StringComparer.Ordinal);

    public Setting Defaults { get; } = new(parameters.ToDictionary(p => p.Name, p => p.Default, StringComparer.Ordinal));

    /// <summary>Every setting evaluated, latest evaluation each.</summary>
    public IReadOnlyCollection<Evaluation> Evaluated => _evaluated.Values;

    /// <summary>The fastest setting so far within the budget, or null when none is.</summary>
    public Evaluation? Best { get; private set; }

    /// <summary>Whether an evaluation keeps accuracy within the budget (percentage points) of <c>none</c>'s.</summary>
    public bool WithinBudget(Evaluation e) => e.Accuracy >= baselineAccuracy - budgetPoints / 100 - 1e-9;

    /// <summary>
    /// Runs the search. <paramref name="evaluate"/> gets a round's settings (the current best first, when there is one)
    /// and returns one evaluation per setting, in order; <paramref name="report"/> hears about each finished round.
    /// </summary>
    public Evaluation? Run(Func<IReadOnlyList<Setting>, IReadOnlyList<Evaluation>> evaluate, Action<string>? report = null)
    {
        var current = Defaults;
        void Round(string what, IEnumerable<Setting> candidates)
        {
            var settings = new List<Setting> { current };
            settings.AddRange(candidates.Where(s => s.Key != current.Key).DistinctBy(s => s.Key));
            if (settings.Count == 1 && _evaluated.ContainsKey(current.Key)) return;
            var results = evaluate(settings);
            if (results.Count != settings.Count) throw new InvalidOperationException($"the evaluator returned {results.Count} results for {settings.Count} settings.");
            foreach (var e in results)
            {
                _evaluated[e.Setting.Key] = e;
                foreach (var (name, value) in e.Setting.Values) TriedValues(name).Add(value);
            }
            // The round's own measurements decide: the fastest within budget, the current setting included.
            var best = results.Where(WithinBudget).MaxBy(e => e.Speed);
            if (best is not null) (Best, current) = (best, best.Setting);
            report?.Invoke($"{what}: {(best is null ? "no setting within budget" : $"best {best.Setting} ({best.Speed:F2}x, accuracy {best.Accuracy:P0})")}");
        }

        foreach (var p in parameters)
        {
            var values = p.CoarseValues(steps);
            Round($"coarse {p.Name} in {{{string.Join(", ", values)}}}", values.Select(v => current.With(p.Name, v)));
        }
        if (parameters.Count == 0) Round("defaults", []);
        for (int pass = 0; pass < RefinementPasses; pass++)
        {
            bool any = false;
            foreach (var p in parameters)
            {
                var values = p.Refinements(current.Values[p.Name], TriedValues(p.Name), steps);
                if (values.Count == 0) continue;
                any = true;
                Round($"refine {p.Name} in {{{string.Join(", ", values)}}}", values.Select(v => current.With(p.Name, v)));
            }
            if (!any) break;
        }
        // The last word goes to one run of the winner beside the defaults: never report a setting slower than them.
        Round("confirm against the defaults", [Defaults]);
        return Best;
    }

    private SortedSet<string> TriedValues(string name)
    {
        if (!_tried.TryGetValue(name, out var set)) _tried[name] = set = new SortedSet<string>(StringComparer.Ordinal);
        return set;
    }
}
