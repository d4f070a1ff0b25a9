using System.Xml.Linq;

namespace PolicyKit.Cli.Tests;

public class BenchChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static BenchResult Row(string policy, string task, double accuracy, double speedup) =>
        new(policy, task, 100, accuracy, 1.0, 100, speedup, speedup, 0.5, 8);

    [Fact]
    public void The_console_table_widens_its_columns_to_the_longest_policy_and_task()
    {
        BenchResult[] results =
        [
            Row("none", "sort", 0.9, 1), Row("dllm-cache:AdaptiveResponse.Ratio=1+t0.9", "sort", 0.97, 6.2),
            Row("dllm-cache", "a-very-long-task-name", 0.8, 2.7),
        ];
        var lines = BenchReport.Table(results).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // Every row's task starts where the header's does, and the fixed-width columns after it end together.
        int task = lines[0].IndexOf("task", StringComparison.Ordinal);
        Assert.Equal(task, lines[2].IndexOf("sort", StringComparison.Ordinal));
        Assert.Equal(task, lines[3].IndexOf("a-very-long-task-name", StringComparison.Ordinal));
        Assert.All(lines, line => Assert.Equal(lines[0].TrimEnd().Length, line.TrimEnd().Length));
    }

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
