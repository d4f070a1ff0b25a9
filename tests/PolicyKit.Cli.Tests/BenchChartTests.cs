using System.Xml.Linq;

namespace PolicyKit.Cli.Tests;

public class BenchChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static BenchResult Row(string policy, string task, double accuracy, double speedup) =>
        new(policy, task, 100, accuracy, 1.0, 100, speedup, speedup, 0.5, 8);

    /// <summary>
    /// A panel per task, each with its title, one marker per policy of that task and a dashed line at none's
    /// accuracy; threshold variants get their own colour.
    /// </summary>
    [Fact]
    public void The_accuracy_chart_draws_a_panel_per_task_with_a_line_at_nones_accuracy()
    {
        BenchResult[] results =
        [
            Row("none", "needle", 0.98, 1), Row("dllm-cache", "needle", 0.97, 5.2), Row("dllm-cache+t0.9", "needle", 0.96, 12.5),
            Row("none", "sort", 0.90, 1), Row("dllm-cache", "sort", 0.80, 2.7),
        ];
        var svg = XDocument.Parse(BenchReport.Svg(results));  // throws unless well-formed

        var texts = svg.Descendants(Svg + "text").Select(t => t.Value).ToArray();
        Assert.Single(texts, "needle");
        Assert.Single(texts, "sort");
        var circles = svg.Descendants(Svg + "circle").ToArray();
        Assert.Equal(results.Length, circles.Length);
        Assert.Equal(2, circles.Select(c => (string?)c.Attribute("fill")).Distinct().Count());
        Assert.Contains(circles, c => c.Element(Svg + "title")!.Value.StartsWith("dllm-cache+t0.9 / needle: 96 %", StringComparison.Ordinal));
        Assert.Equal(2, svg.Descendants(Svg + "line").Count(l => l.Attribute("stroke-dasharray") is not null));
        Assert.Equal("680", (string?)svg.Root!.Attribute("width"));  // two panels side by side
    }
}
