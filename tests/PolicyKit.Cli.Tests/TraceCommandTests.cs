using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using PolicyKit.Generated;

namespace PolicyKit.Cli.Tests;

/// <summary>One small random model per checkpoint layout, made once by <c>policykit new-model</c> for every trace test.</summary>
public sealed class TraceModels : IDisposable
{
    public const int Layers = 2;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "pk-trace-" + Guid.NewGuid().ToString("N")[..8]);

    public TraceModels()
    {
        foreach (var layout in new[] { "llada", "dream" })
        {
            var made = CliProcess.Run("new-model", "--layout", layout, "--out", Directory(layout), "--layers", $"{Layers}",
                "--hidden", "32", "--heads", "4", "--seed", "7");
            if (made.ExitCode != 0) throw new InvalidOperationException($"new-model {layout}: {made.Stderr}");
        }
    }

    public string Directory(string layout) => Path.Combine(_root, layout);

    public string Temp(string name) => Path.Combine(_root, name);

    public void Dispose()
    {
        if (System.IO.Directory.Exists(_root)) System.IO.Directory.Delete(_root, true);
    }
}

public class TraceCommandTests(TraceModels models) : IClassFixture<TraceModels>
{
    private const int GenLength = 8, Steps = 8, BlockLength = 4;

    /// <summary>Every built-in policy (as the CLI lists them) on both layouts.</summary>
    public static TheoryData<string, string> PolicyOnLayout()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in PolicyCatalog.FromRegistries(PolicyKitPoliciesPolicyRegistry.Instance).Names)
            foreach (var layout in new[] { "llada", "dream" })
                data.Add(name, layout);
        return data;
    }

    [Theory]
    [MemberData(nameof(PolicyOnLayout))]
    public void Trace_json_and_svg_show_every_step_and_layer_with_the_plan_semantics_of_the_policy(string policy, string layout)
    {
        var svgPath = models.Temp($"{policy}-{layout}.svg");
        var run = CliProcess.Run("trace", "--model", models.Directory(layout), "--prompt", "hello there", "--policy", policy,
            "--gen-length", $"{GenLength}", "--steps", $"{Steps}", "--block-length", $"{BlockLength}", "--json", "--svg", svgPath);
        Assert.True(run.ExitCode == 0, run.Stderr);

        using var json = JsonDocument.Parse(run.Stdout);
        var root = json.RootElement;
        Assert.Equal(policy, root.GetProperty("policy").GetString());
        Assert.Equal(TraceModels.Layers, root.GetProperty("layers").GetInt32());
        Assert.Equal(GenLength, root.GetProperty("genLength").GetInt32());
        int blocks = layout == "llada" ? GenLength / BlockLength : 1;   // Dream decodes one block on its time grid
        Assert.Equal(blocks, root.GetProperty("blocks").GetInt32());
        int promptLength = root.GetProperty("promptLength").GetInt32();

        var steps = root.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(Steps, steps.Length);
        Assert.Equal(blocks, steps.Count(s => s.GetProperty("blockStart").GetBoolean()));
        foreach (var step in steps)
        {
            int index = step.GetProperty("step").GetInt32();
            bool blockStart = step.GetProperty("blockStart").GetBoolean();
            int activeStart = step.GetProperty("activeBlockStart").GetInt32(), activeLength = step.GetProperty("activeBlockLength").GetInt32();
            var layers = step.GetProperty("layers").EnumerateArray().ToArray();
            Assert.Equal(Enumerable.Range(0, TraceModels.Layers), layers.Select(l => l.GetProperty("layer").GetInt32()));
            int firedAt = layers.FirstOrDefault(l => l.GetProperty("triggerFired").GetBoolean()) is { ValueKind: JsonValueKind.Object } f
                ? f.GetProperty("layer").GetInt32() : int.MaxValue;
            foreach (var layer in layers)
            {
                int rows = layer.GetProperty("rows").GetInt32(), recomputedRows = layer.GetProperty("rowsRecomputed").GetInt32();
                double recomputed = layer.GetProperty("recomputed").GetDouble(), reused = layer.GetProperty("reused").GetDouble();
                string where = $"{policy}/{layout} step {index} layer {layer.GetProperty("layer").GetInt32()}";
                Assert.Equal(promptLength + GenLength, rows);
                Assert.InRange(recomputedRows, 0, rows);
                Assert.Equal((double)recomputedRows / rows, recomputed, 3);
                Assert.Equal(1.0, recomputed + reused, 3);

                // What each rule means, in row counts that do not depend on the CPU's floating point.
                if (index == 0 || policy is "none" or "always-refresh")
                    Assert.True(recomputedRows == rows, $"{where}: {recomputedRows} of {rows} rows, expected all");
                else if (policy == "fast-dllm-dual")
                    Assert.True(recomputedRows == (blockStart ? rows : activeLength), $"{where}: {recomputedRows} rows");
                else if (policy == "fast-dllm-prefix")
                    Assert.True(recomputedRows == (blockStart ? rows : GenLength - activeStart), $"{where}: {recomputedRows} rows");
                else if (policy == "prompt-cache")
                    Assert.True(recomputedRows == GenLength, $"{where}: {recomputedRows} rows, expected the response's {GenLength}");
                else if (policy == "dllm-cache" && layer.GetProperty("layer").GetInt32() == 0)
                    Assert.True(recomputedRows == rows, $"{where}: layer 0 is always refreshed, got {recomputedRows} of {rows}");
                else if (policy == "elastic-cache")   // the block each step; everything at a block start and after a fired drift test
                    Assert.True(recomputedRows == (blockStart || layer.GetProperty("layer").GetInt32() > firedAt ? rows : activeLength), $"{where}: {recomputedRows} rows");
                else if (policy is "dllm-cache")
                    Assert.True(recomputedRows < rows, $"{where}: the prompt is reused after step 0");
            }
        }

        // The heat map: well-formed XML, one cell per (step, layer), one block-start mark per block.
        var svg = XDocument.Load(svgPath);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        Assert.Equal(Steps * TraceModels.Layers, svg.Descendants(ns + "rect").Count(r => (string?)r.Attribute("class") == "cell"));
        Assert.Equal(blocks, svg.Descendants(ns + "line").Count(l => (string?)l.Attribute("class") == "block-start"));
        Assert.Contains(policy, svg.Descendants(ns + "text").First().Value);
    }

    [Fact]
    public void Trace_text_prints_one_grid_line_per_step_under_its_block()
    {
        var run = CliProcess.Run("trace", "--model", models.Directory("llada"), "--prompt", "hello there", "--policy", "fast-dllm-dual",
            "--gen-length", $"{GenLength}", "--steps", $"{Steps}", "--block-length", $"{BlockLength}");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.Stdout.Split('\n', StringSplitOptions.TrimEntries);
        Assert.StartsWith("fast-dllm-dual on llada (LLaDA, 2 layers)", lines[0]);
        Assert.Contains("block 0: response tokens 0..3", lines);
        Assert.Contains("block 1: response tokens 4..7", lines);
        // Block starts recompute every row of both layers (##); the steps between recompute the 4-token block only.
        var grid = lines.Where(l => Regex.IsMatch(l, @"^\d+ +[.#0-9]+ +[0-9.]+ %$")).ToArray();
        Assert.Equal(Steps, grid.Length);
        Assert.Equal(new[] { "0", "##" }, grid[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..2]);
        Assert.Equal(new[] { "4", "##" }, grid[4].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..2]);
        Assert.DoesNotContain('#', grid[1]);
    }

    [Theory]
    [InlineData("unknown policy", "--policy", "nope")]
    [InlineData("block length not dividing the gen length", "--gen-length", "10", "--block-length", "4")]
    [InlineData("threshold out of range", "--threshold", "1.5")]
    [InlineData("svg into a missing directory", "--svg", "/nonexistent-pk-dir/trace.svg")]
    [InlineData("prompt longer than the model allows", "--gen-length", "5000", "--block-length", "5000", "--steps", "1")]
    public void Bad_trace_options_end_in_one_line(string why, params string[] options)
    {
        var run = CliProcess.Run(["trace", "--model", models.Directory("llada"), "--prompt", "hello", .. options]);
        Assert.True(run.ExitCode == 2, $"{why}: exit {run.ExitCode}, {run.Stderr}");
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("policykit: ", lines[0]);
        Assert.DoesNotContain("   at ", run.Stderr);
    }
}
