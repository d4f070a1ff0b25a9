using System.Text.Json;
using System.Xml.Linq;

namespace PolicyKit.Cli.Tests;

/// <summary><c>bench --prompt-length N,N,...</c>: random-prompt scaling, cache memory and the speedup chart.</summary>
public class BenchScalingTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void Several_prompt_lengths_report_each_length_with_cache_memory_and_draw_a_series_per_policy()
    {
        var dir = TempDirectory("pk-scaling-");
        try
        {
            var made = CliProcess.Run("new-model", "--layout", "llada", "--out", dir, "--layers", "2", "--hidden", "32", "--heads", "4",
                "--max-sequence-length", "4096");
            Assert.True(made.ExitCode == 0, made.Stderr);
            using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
                Assert.Equal(4096, config.RootElement.GetProperty("max_sequence_length").GetInt32());

            string json = Path.Combine(dir, "bench.json"), chart = Path.Combine(dir, "chart.svg"), markdown = Path.Combine(dir, "bench.md");
            // 2,100 tokens: longer than the default maximum (2,048), so this also shows the model's own length is used.
            var run = CliProcess.Run("bench", "--model", dir, "--prompt-length", "24, 2100,64", "--gen-length", "4", "--samples", "1",
                "--policies", "none,dllm-cache,fast-dllm-dual", "--json", json, "--chart", chart, "--markdown", markdown);
            Assert.True(run.ExitCode == 0, run.Stderr);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var results = doc.RootElement.GetProperty("results").EnumerateArray().ToArray();
            Assert.Equal(9, results.Length);
            Assert.Equal([24, 2100, 64], results.Select(r => r.GetProperty("promptLength").GetInt32()).Distinct());
            foreach (var r in results)
            {
                string policy = r.GetProperty("policy").GetString()!;
                double mib = r.GetProperty("peakCacheMiB").GetDouble();
                Assert.True(r.GetProperty("seconds").GetDouble() > 0);
                if (policy == "none")
                {
                    Assert.Equal(1.0, r.GetProperty("speedup").GetDouble());  // the baseline of its own length
                    Assert.Equal(0.0, mib);
                }
                else Assert.True(mib > 0, $"{policy}: {mib} MiB");
            }
            // The caches hold every row of every layer, so they grow with the prompt: 2,104 columns against 28.
            double Mib(string policy, int length) => results.Single(r => r.GetProperty("policy").GetString() == policy &&
                r.GetProperty("promptLength").GetInt32() == length).GetProperty("peakCacheMiB").GetDouble();
            Assert.True(Mib("dllm-cache", 2100) > 50 * Mib("dllm-cache", 24));
            Assert.Contains("peak cache (MiB)", File.ReadAllText(markdown));

            var svg = XDocument.Load(chart);  // throws unless well-formed
            Assert.Equal(Svg + "svg", svg.Root!.Name);
            var series = svg.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "series").ToArray();
            Assert.Equal(["dllm-cache", "fast-dllm-dual"], series.Select(g => (string?)g.Attribute("data-policy")));
            foreach (var g in series)
            {
                var lines = g.Elements(Svg + "polyline").ToArray();
                Assert.Equal(2, lines.Length);  // speedup, and the FLOPs-reduction ideal dashed
                Assert.Single(lines, l => l.Attribute("stroke-dasharray") is not null);
                Assert.All(lines, l => Assert.Equal(3, ((string)l.Attribute("points")!).Split(' ').Length));
                // Points run left to right: the lengths sorted, whatever order they were given in.
                var xs = ((string)lines[0].Attribute("points")!).Split(' ').Select(p => double.Parse(p.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                Assert.Equal(xs.Order(), xs);
            }
            Assert.Contains(svg.Descendants(Svg + "text"), t => t.Value == "2100");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("256;1024")]
    [InlineData("256,,1024")]
    [InlineData("1.5")]
    public void Bad_prompt_lengths_are_rejected_in_one_line(string lengths)
    {
        var run = CliProcess.Run("bench", "--prompt-length", lengths, "--policies", "none");
        Assert.True(run.ExitCode != 0);
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("policykit: --prompt-length: ", lines[0]);
        Assert.DoesNotContain("   at ", run.Stderr);
    }

    [Fact]
    public void A_prompt_length_beyond_the_models_maximum_is_rejected_before_any_run()
    {
        var dir = TempDirectory("pk-scaling-max-");
        try
        {
            Assert.Equal(0, CliProcess.Run("new-model", "--out", dir, "--layers", "1", "--hidden", "32", "--heads", "4", "--max-sequence-length", "128").ExitCode);
            var run = CliProcess.Run("bench", "--model", dir, "--prompt-length", "16,125", "--gen-length", "4", "--policies", "none");
            Assert.True(run.ExitCode != 0);
            var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Single(lines);
            Assert.Contains("--prompt-length 125 + --gen-length 4 exceeds the model's maximum sequence length 128", lines[0]);
            Assert.DoesNotContain("random-16", run.Stdout);  // nothing ran, not even the short length
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void New_model_rejects_a_maximum_length_below_two()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pk-scaling-bad-" + Guid.NewGuid().ToString("N")[..8]);
        var run = CliProcess.Run("new-model", "--out", dir, "--max-sequence-length", "1");
        Assert.True(run.ExitCode != 0);
        Assert.StartsWith("policykit: --max-sequence-length: must be at least 2", run.Stderr.Trim());
        Assert.False(Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any());
    }

    private static string TempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
