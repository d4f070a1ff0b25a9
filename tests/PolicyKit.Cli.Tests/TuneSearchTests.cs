using System.Text;
using Microsoft.Extensions.Configuration;
using PolicyKit.Cli.Tuning;
using PolicyKit.Hosting;

namespace PolicyKit.Cli.Tests;

/// <summary>The grid, refinement and search of <c>policykit tune</c> on a made-up cost model (no model, no clock).</summary>
public class TuneSearchTests
{
    private static readonly TunableParameter Interval = new("ResponseRefresh.Every", ParameterKind.Interval, "7");
    private static readonly TunableParameter Ratio = new("AdaptiveResponse.Ratio", ParameterKind.Ratio, "0.25");

    [Fact]
    public void Coarse_grids_bracket_the_default()
    {
        Assert.Equal(["2", "4", "7", "14", "28"], Interval.CoarseValues());
        Assert.Equal(["25", "50", "100", "200", "400"], (Interval with { Default = "100" }).CoarseValues());
        Assert.Equal(["1", "2", "4"], (Interval with { Default = "1" }).CoarseValues());
        Assert.Equal(["0.0625", "0.125", "0.25", "0.5"], Ratio.CoarseValues());
        Assert.Equal(["0.6", "0.8", "0.9", "0.95", "0.99"], new TunableParameter("AdaptiveResponse.Threshold", ParameterKind.Threshold, "0.6").CoarseValues());
        Assert.Equal(Enum.GetNames<Probe>(), new TunableParameter("AdaptiveResponse.Probe", ParameterKind.Probe, "Value").CoarseValues());
    }

    [Fact]
    public void Intervals_a_generation_never_reaches_collapse_to_one()
    {
        var prompt = Interval with { Default = "100" };
        Assert.Equal(["25", "100"], prompt.CoarseValues(steps: 32));   // 50, 200, 400 act as 100 does in 32 steps
        Assert.Equal(["100"], prompt.CoarseValues(steps: 16));
        Assert.Equal(["2", "4", "7", "14", "28"], Interval.CoarseValues(steps: 16));  // only 28 reaches 16
        Assert.Equal(["1", "2", "4", "8"], (Interval with { Default = "4" }).CoarseValues(steps: 8));  // 8 stands for 16 too
        Assert.Equal(["6"], Interval.Refinements("7", ["2", "4", "7", "14", "28"], steps: 10));
    }

    [Fact]
    public void Refinement_tries_the_new_midpoints_beside_a_value()
    {
        Assert.Equal(["6", "10"], Interval.Refinements("7", ["2", "4", "7", "14", "28"]));   // 5.5 and 10.5, rounded to even
        Assert.Equal(["8"], Interval.Refinements("7", ["2", "4", "6", "7", "10", "14"]));     // 6.5 -> 6 is known already
        Assert.Equal(["0.1875", "0.375"], Ratio.Refinements("0.25", ["0.125", "0.25", "0.5"]));
        Assert.Empty(Interval.Refinements("7", ["7", "8", "6"]));
        // At an edge of the grid: one step beyond it too.
        Assert.Equal(["0.0312", "0.0938"], Ratio.Refinements("0.0625", ["0.0625", "0.125", "0.25", "0.5"]));
        Assert.Equal(["1", "3"], Interval.Refinements("2", ["2", "4", "7", "14", "28"]));
        Assert.Equal(["21", "32"], Interval.Refinements("28", ["2", "4", "7", "14", "28"], steps: 32));  // 56 acts as 32: never again
        Assert.Equal(["0.375", "0.75"], Ratio.Refinements("0.5", ["0.25", "0.5", "1"]));  // not an edge: midpoints only
        Assert.Equal(["0.97"], new TunableParameter("AdaptiveResponse.Threshold", ParameterKind.Threshold, "0.95").Refinements("0.99", ["0.9", "0.95", "0.99"]));
        Assert.Empty(new TunableParameter("AdaptiveResponse.Probe", ParameterKind.Probe, "Value").Refinements("Value", ["Key"]));
    }

    [Fact]
    public void Tunable_parameters_come_from_the_registry()
    {
        var names = TunableParameter.Of(Policies.Catalog.Get("dllm-cache")).Select(p => (p.Name, p.Kind, p.Default));
        Assert.Equal([("PromptRefresh.Every", ParameterKind.Interval, "100"), ("ResponseRefresh.Every", ParameterKind.Interval, "7"),
            ("AdaptiveResponse.Ratio", ParameterKind.Ratio, "0.25"), ("AdaptiveResponse.Probe", ParameterKind.Probe, "Value")], names);
        Assert.Empty(TunableParameter.Of(Policies.Catalog.Get("fast-dllm-dual")));
    }

    /// <summary>
    /// Made up: longer intervals and smaller ratios are faster; accuracy drops below 100 % past an interval of 11 or
    /// under a ratio of 0.1. The coarse grids (2, 4, 7, 14, 28 and 0.0625 ... 0.5) step over both edges; refinement
    /// must find 10 (midpoint of 7 and 14) and 0.1094 (of 0.0938 and 0.125, the second pass).
    /// </summary>
    private static Evaluation Fake(Setting s)
    {
        int every = int.Parse(s.Values[Interval.Name]);
        double ratio = double.Parse(s.Values[Ratio.Name], System.Globalization.CultureInfo.InvariantCulture);
        double speed = every / Math.Sqrt(ratio);
        double accuracy = every <= 11 && ratio >= 0.1 ? 1.0 : 0.5;
        return new Evaluation(s, speed, accuracy, speed, speed);
    }

    [Fact]
    public void The_search_finds_the_fastest_setting_within_budget_beyond_the_coarse_grid()
    {
        var search = new ParameterSearch([Interval, Ratio], baselineAccuracy: 1.0, budgetPoints: 1);
        var rounds = new List<IReadOnlyList<Setting>>();
        var best = search.Run(round => { rounds.Add(round); return round.Select(Fake).ToArray(); });

        Assert.NotNull(best);
        Assert.Equal("AdaptiveResponse.Ratio=0.1094 ResponseRefresh.Every=10", best.Setting.Key);
        Assert.True(search.WithinBudget(best));
        Assert.True(best.Speed >= Fake(search.Defaults).Speed);
        Assert.Equal(search.Defaults.Key, rounds[0][0].Key);  // the first round starts from the defaults
        Assert.All(rounds.Skip(1), r => Assert.True(search.WithinBudget(Fake(r[0]))));  // later ones from the best so far
        Assert.Equal(search.Defaults.Key, rounds[^1][^1].Key);  // the last one checks the winner against the defaults
        Assert.Equal(search.Evaluated.Count, search.Evaluated.Select(e => e.Setting.Key).Distinct().Count());
    }

    [Fact]
    public void With_defaults_over_budget_nothing_is_chosen_unless_a_setting_is_within()
    {
        var search = new ParameterSearch([Interval], baselineAccuracy: 1.0, budgetPoints: 1);
        Assert.Null(search.Run(round => round.Select(s => new Evaluation(s, 2, 0.9, 2, 2)).ToArray()));

        var lenient = new ParameterSearch([Interval], baselineAccuracy: 1.0, budgetPoints: 10);
        Assert.NotNull(lenient.Run(round => round.Select(s => new Evaluation(s, 2, 0.9, 2, 2)).ToArray()));
    }

    [Fact]
    public void The_snippet_binds_to_the_hosting_options_and_builds_the_setting()
    {
        var setting = new Setting(new Dictionary<string, string>
        {
            ["PromptRefresh.Every"] = "50", ["ResponseRefresh.Every"] = "10", ["AdaptiveResponse.Ratio"] = "0.125", ["AdaptiveResponse.Probe"] = "Key",
        });
        var json = TuneReport.Snippet("dllm-cache", setting);
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = configuration.GetSection(PolicyKitOptions.SectionName).Get<PolicyKitOptions>()!;

        var policy = Policies.Catalog.Get("dllm-cache").Create(options.OverridesFor("dllm-cache"));
        var values = policy.Parameters.Where(p => p.CanOverride).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(setting.Values.OrderBy(x => x.Key), values.OrderBy(x => x.Key));
    }

    [Fact]
    public void The_pareto_front_keeps_what_nothing_beats_on_both_speed_and_accuracy()
    {
        Evaluation E(string v, double speed, double accuracy) => new(new Setting(new Dictionary<string, string> { ["x"] = v }), speed, accuracy, speed, speed);
        var front = TuneReport.ParetoFront([E("a", 1, 1.0), E("b", 2, 0.9), E("c", 1.5, 0.8), E("d", 3, 0.5)]);
        Assert.Equal(["a", "b", "d"], front.Select(e => e.Setting.Values["x"]));
    }
}
